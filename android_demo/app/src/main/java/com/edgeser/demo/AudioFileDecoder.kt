package com.edgeser.demo

import android.content.Context
import android.media.AudioFormat
import android.media.MediaCodec
import android.media.MediaExtractor
import android.media.MediaFormat
import android.net.Uri
import com.edgeser.core.AudioConvert
import com.edgeser.core.AudioDecodeException
import com.edgeser.core.DecodedAudio
import com.edgeser.core.WavReader
import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Decodes a user-picked audio file to mono float samples.
 *
 * WAV goes through the core module's pure-Kotlin [WavReader] (the path tested against the
 * Python runtime). Anything else (MP3, AAC/M4A, FLAC, Ogg/Opus, ...) goes through Android's
 * MediaExtractor + MediaCodec, whose decoders are the device's own: results can differ slightly
 * from what `edge-ser classify` decodes on a desktop.
 */
object AudioFileDecoder {
    fun decode(context: Context, uri: Uri): DecodedAudio {
        val name = uri.lastPathSegment ?: uri.toString()
        val bytes = context.contentResolver.openInputStream(uri)?.use { it.readBytes() }
            ?: throw AudioDecodeException("cannot open $name")
        if (bytes.size >= 12 && String(bytes, 0, 4, Charsets.US_ASCII) == "RIFF" &&
            String(bytes, 8, 4, Charsets.US_ASCII) == "WAVE"
        ) {
            return WavReader.read(bytes, name)
        }
        return decodeWithMediaCodec(context, uri, name)
    }

    private fun decodeWithMediaCodec(context: Context, uri: Uri, name: String): DecodedAudio {
        val extractor = MediaExtractor()
        try {
            extractor.setDataSource(context, uri, null)
            var track = -1
            for (i in 0 until extractor.trackCount) {
                val mime = extractor.getTrackFormat(i).getString(MediaFormat.KEY_MIME) ?: continue
                if (mime.startsWith("audio/")) {
                    track = i
                    break
                }
            }
            if (track < 0) throw AudioDecodeException("$name has no audio track")
            extractor.selectTrack(track)
            val format = extractor.getTrackFormat(track)
            val mime = format.getString(MediaFormat.KEY_MIME)!!
            var channels = format.getInteger(MediaFormat.KEY_CHANNEL_COUNT)
            var rate = format.getInteger(MediaFormat.KEY_SAMPLE_RATE)
            var encoding = AudioFormat.ENCODING_PCM_16BIT
            val codec = MediaCodec.createDecoderByType(mime)
            val pcm = ByteArrayOutputStream()
            try {
                codec.configure(format, null, null, 0)
                codec.start()
                val info = MediaCodec.BufferInfo()
                var inputDone = false
                var outputDone = false
                while (!outputDone) {
                    if (!inputDone) {
                        val inIndex = codec.dequeueInputBuffer(10_000)
                        if (inIndex >= 0) {
                            val buffer = codec.getInputBuffer(inIndex)!!
                            val n = extractor.readSampleData(buffer, 0)
                            if (n < 0) {
                                codec.queueInputBuffer(inIndex, 0, 0, 0, MediaCodec.BUFFER_FLAG_END_OF_STREAM)
                                inputDone = true
                            } else {
                                codec.queueInputBuffer(inIndex, 0, n, extractor.sampleTime, 0)
                                extractor.advance()
                            }
                        }
                    }
                    val outIndex = codec.dequeueOutputBuffer(info, 10_000)
                    if (outIndex >= 0) {
                        val buffer = codec.getOutputBuffer(outIndex)!!
                        val chunk = ByteArray(info.size)
                        buffer.position(info.offset)
                        buffer.get(chunk, 0, info.size)
                        pcm.write(chunk)
                        codec.releaseOutputBuffer(outIndex, false)
                        if ((info.flags and MediaCodec.BUFFER_FLAG_END_OF_STREAM) != 0) outputDone = true
                    } else if (outIndex == MediaCodec.INFO_OUTPUT_FORMAT_CHANGED) {
                        val out = codec.outputFormat
                        channels = out.getInteger(MediaFormat.KEY_CHANNEL_COUNT)
                        rate = out.getInteger(MediaFormat.KEY_SAMPLE_RATE)
                        if (out.containsKey(MediaFormat.KEY_PCM_ENCODING)) encoding = out.getInteger(MediaFormat.KEY_PCM_ENCODING)
                    }
                }
                codec.stop()
            } finally {
                codec.release()
            }
            val raw = ByteBuffer.wrap(pcm.toByteArray()).order(ByteOrder.LITTLE_ENDIAN)
            val interleaved = when (encoding) {
                AudioFormat.ENCODING_PCM_FLOAT -> FloatArray(raw.remaining() / 4).also { raw.asFloatBuffer().get(it) }
                AudioFormat.ENCODING_PCM_16BIT -> {
                    val s = ShortArray(raw.remaining() / 2)
                    raw.asShortBuffer().get(s)
                    AudioConvert.pcm16ToFloat(s)
                }
                else -> throw AudioDecodeException("$name: the decoder produced PCM encoding $encoding; accepted: 16-bit or float")
            }
            AudioConvert.sanitizeInPlace(interleaved)
            return DecodedAudio(AudioConvert.downmix(interleaved, channels), rate, channels)
        } catch (e: AudioDecodeException) {
            throw e
        } catch (e: Exception) {
            throw AudioDecodeException("cannot decode $name: ${e.message}", e)
        } finally {
            extractor.release()
        }
    }
}
