package com.edgeser.core

import java.io.ByteArrayOutputStream
import java.io.InputStream

/** Decoded audio: mono float samples and their rate. */
class DecodedAudio(val samples: FloatArray, val sampleRate: Int, val channels: Int) {
    val frames: Int get() = samples.size
    val durationSeconds: Double get() = if (sampleRate > 0) samples.size.toDouble() / sampleRate else 0.0
}

/**
 * A pure-Kotlin RIFF/WAVE reader, decoding as the Python runtime (libsndfile) does.
 *
 * Accepted: PCM 8 (unsigned), 16, 24 and 32 bit, IEEE float 32 and 64 bit, plain or
 * WAVE_FORMAT_EXTENSIBLE, 1 to 64 channels, 4 kHz to 384 kHz. Integers are scaled to [-1, 1)
 * by `2^(bits-1)` (8-bit around 128), channels are averaged in double precision, and in float
 * files NaN/infinite samples become 0 and magnitudes beyond 1e6 are clipped. Unknown chunks
 * (LIST, fact, ...) are skipped; a data chunk longer than the file (a recording cut short) is
 * read up to its last whole frame.
 */
object WavReader {
    private const val FORMAT_PCM = 1
    private const val FORMAT_FLOAT = 3
    private const val FORMAT_EXTENSIBLE = 0xFFFE
    const val ACCEPTED = "RIFF/WAVE with PCM 8/16/24/32-bit or float 32/64-bit samples"

    fun read(input: InputStream, name: String = "<wav>"): DecodedAudio {
        val buf = ByteArrayOutputStream()
        val chunk = ByteArray(64 * 1024)
        while (true) {
            val n = input.read(chunk)
            if (n < 0) break
            buf.write(chunk, 0, n)
        }
        return read(buf.toByteArray(), name)
    }

    fun read(bytes: ByteArray, name: String = "<wav>"): DecodedAudio {
        fun fail(why: String): Nothing = throw AudioDecodeException("cannot decode $name as WAV ($why); accepted: $ACCEPTED")

        if (bytes.isEmpty()) fail("the file is empty: 0 bytes")
        if (bytes.size < 12 || tag(bytes, 0) != "RIFF" || tag(bytes, 8) != "WAVE") fail("not a RIFF/WAVE file")
        var pos = 12
        var format = -1
        var channels = 0
        var rate = 0
        var bits = 0
        var blockAlign = 0
        var dataStart = -1
        var dataSize = 0L
        while (pos + 8 <= bytes.size) {
            val id = tag(bytes, pos)
            val size = u32(bytes, pos + 4)
            val body = pos + 8
            if (id == "fmt ") {
                if (size < 16 || body + 16 > bytes.size) fail("truncated fmt chunk")
                format = u16(bytes, body)
                channels = u16(bytes, body + 2)
                rate = u32(bytes, body + 4).toInt()
                blockAlign = u16(bytes, body + 12)
                bits = u16(bytes, body + 14)
                if (format == FORMAT_EXTENSIBLE) {
                    if (size < 40 || body + 40 > bytes.size) fail("truncated WAVE_FORMAT_EXTENSIBLE fmt chunk")
                    format = u16(bytes, body + 24) // the first two bytes of the sub-format GUID
                }
            } else if (id == "data") {
                dataStart = body
                dataSize = size
                break
            }
            pos = body + size.toInt() + (size and 1L).toInt() // chunks are padded to even sizes
            if (size > Int.MAX_VALUE || pos < 0) fail("corrupt chunk size")
        }
        if (format < 0) fail("no fmt chunk")
        if (dataStart < 0) fail("no data chunk")
        if (rate < 4000 || rate > 384000) {
            throw UnsupportedAudioException("the sample rate of $name must be an integer from 4000 to 384000 Hz, got $rate")
        }
        if (channels < 1 || channels > 64) throw UnsupportedAudioException("$name has $channels channels; accepted: 1 to 64")
        val isFloat = format == FORMAT_FLOAT
        if (!(format == FORMAT_PCM && bits in intArrayOf(8, 16, 24, 32)) && !(isFloat && (bits == 32 || bits == 64))) {
            fail("format tag $format with $bits-bit samples")
        }
        val width = bits / 8
        val frameBytes = width * channels
        if (blockAlign != 0 && blockAlign != frameBytes) fail("block align $blockAlign does not match $channels x $bits-bit")
        val available = Math.min(dataSize, (bytes.size - dataStart).toLong())
        val frames = (available / frameBytes).toInt()
        val interleaved = FloatArray(frames * channels)
        var p = dataStart
        for (i in interleaved.indices) {
            interleaved[i] = when {
                isFloat && bits == 32 -> java.lang.Float.intBitsToFloat(i32(bytes, p))
                isFloat -> java.lang.Double.longBitsToDouble(i64(bytes, p)).toFloat()
                bits == 8 -> ((bytes[p].toInt() and 0xFF) - 128) / 128.0f
                bits == 16 -> (((bytes[p].toInt() and 0xFF) or (bytes[p + 1].toInt() shl 8)).toShort()) / 32768.0f
                bits == 24 -> (((bytes[p].toInt() and 0xFF) or ((bytes[p + 1].toInt() and 0xFF) shl 8) or
                    (bytes[p + 2].toInt() shl 16))) / 8388608.0f
                else -> i32(bytes, p).toFloat() / 2147483648.0f
            }
            p += width
        }
        if (isFloat) AudioConvert.sanitizeInPlace(interleaved)
        return DecodedAudio(AudioConvert.downmix(interleaved, channels), rate, channels)
    }

    private fun tag(b: ByteArray, at: Int): String {
        if (at + 4 > b.size) return ""
        val chars = CharArray(4) { (b[at + it].toInt() and 0xFF).toChar() }
        return String(chars)
    }

    private fun u16(b: ByteArray, at: Int): Int = (b[at].toInt() and 0xFF) or ((b[at + 1].toInt() and 0xFF) shl 8)

    private fun i32(b: ByteArray, at: Int): Int =
        (b[at].toInt() and 0xFF) or ((b[at + 1].toInt() and 0xFF) shl 8) or
            ((b[at + 2].toInt() and 0xFF) shl 16) or (b[at + 3].toInt() shl 24)

    private fun u32(b: ByteArray, at: Int): Long = i32(b, at).toLong() and 0xFFFFFFFFL

    private fun i64(b: ByteArray, at: Int): Long = (i32(b, at).toLong() and 0xFFFFFFFFL) or (i32(b, at + 4).toLong() shl 32)
}
