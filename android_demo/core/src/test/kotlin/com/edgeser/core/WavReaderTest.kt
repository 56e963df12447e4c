package com.edgeser.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.ByteArrayInputStream

/** WavReader.kt against what edge_ser.audio (libsndfile) decodes from the same files. */
class WavReaderTest {
    @Test
    fun goldenFilesDecodeLikePython() {
        val cases = Golden.json("wav.json").objects("cases")
        assertTrue(cases.size >= 8)
        for (c in cases) {
            val file = c.string("file")
            val audio = WavReader.read(ByteArrayInputStream(Golden.bytes(file)), file)
            assertEquals("$file: rate", c.int("sample_rate"), audio.sampleRate)
            assertEquals("$file: channels", c.int("channels"), audio.channels)
            val expected = Golden.f32(c.string("mono"))
            assertEquals("$file: frames", c.int("frames"), audio.frames)
            assertEquals("$file: frames decoded by Python", expected.size, audio.frames)
            for (i in expected.indices) {
                // Same conversions as libsndfile: expected bit-identical.
                assertEquals("$file: sample $i", expected[i], audio.samples[i], 0.0f)
            }
        }
    }

    private fun expectError(bytes: ByteArray, fragment: String) {
        try {
            WavReader.read(bytes, "test.wav")
            fail("decoded a bad file ($fragment)")
        } catch (e: EdgeSerException) {
            assertTrue("message '${e.message}' should mention '$fragment'", e.message!!.contains(fragment))
        }
    }

    @Test
    fun badFilesGiveClearErrors() {
        val good = Golden.bytes("wav/pcm16_mono_16k.wav")
        expectError(ByteArray(0), "empty")
        expectError("OggS0000000000000000".toByteArray(), "not a RIFF/WAVE")
        expectError(good.copyOfRange(0, 12), "no fmt chunk")
        expectError(good.copyOfRange(0, 30), "truncated fmt chunk")
        expectError(good.copyOfRange(0, 36), "no data chunk")
        val adpcm = good.copyOf()
        adpcm[20] = 2 // format tag 2: MS ADPCM
        expectError(adpcm, "format tag 2")
        val rate = good.copyOf()
        rate[24] = 100
        rate[25] = 0
        rate[26] = 0
        rate[27] = 0
        expectError(rate, "4000 to 384000")
    }

    @Test
    fun truncatedDataIsReadToTheLastWholeFrame() {
        val good = Golden.bytes("wav/pcm16_stereo_44k1_list.wav")
        val full = WavReader.read(good)
        val cut = WavReader.read(good.copyOfRange(0, good.size - 7))
        assertEquals(full.frames - 2, cut.frames) // 7 bytes = one 4-byte frame and a partial one
        for (i in 0 until cut.frames) assertEquals(full.samples[i], cut.samples[i], 0.0f)
    }
}
