package com.edgeser.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** SpeechDetector.kt against edge_ser/vad.py, with webrtcvad's recorded decisions. */
class SpeechDetectorGoldenTest {
    private fun run(case: JsonObject, x: FloatArray, chunk: Int): Pair<String, List<List<Long>>> {
        val factory = ReplayVadFactory(case)
        val options = Golden.options(case).vad
        val det = SpeechDetector(options, case.int("sample_rate"), factory)
        val flags = StringBuilder()
        val regions = ArrayList<List<Long>>()
        var i = 0
        while (i < x.size) {
            val end = Math.min(x.size, i + chunk)
            val u = det.push(x.copyOfRange(i, end))
            for (f in u.flags) flags.append(if (f) '1' else '0')
            for (r in u.done) regions.add(listOf(r.start, r.end))
            i = end
        }
        val u = det.finish(x.size.toLong())
        for (f in u.flags) flags.append(if (f) '1' else '0')
        for (r in u.done) regions.add(listOf(r.start, r.end))
        if (options.enabled) {
            assertEquals("${case.string("name")}: one VAD per detector", 1, factory.created.size)
            val vad = factory.created[0]
            assertEquals("${case.string("name")}: number of webrtcvad calls (priming included)", vad.expectedCalls, vad.calls)
        }
        return Pair(flags.toString(), regions)
    }

    @Test
    fun flagsAndRegionsMatchPythonForAnyChunking() {
        var withRegions = 0
        for (case in Golden.streamCases) {
            val name = case.string("name")
            val x = Golden.audio(case)
            val expectedRegions = case.list("regions").map { r -> (r as List<*>).map { (it as Double).toLong() } }
            if (expectedRegions.isNotEmpty()) withRegions++
            for (chunk in intArrayOf(80000, 4096, 487, 1)) {
                val (flags, regions) = run(case, x, chunk)
                if (Golden.options(case).vad.enabled) {
                    assertEquals("$name (chunk $chunk): frame flags", case.string("flags"), flags)
                } else {
                    assertEquals("$name (chunk $chunk): frames without VAD", case.string("flags").length, flags.length)
                }
                assertEquals("$name (chunk $chunk): regions", expectedRegions, regions)
            }
        }
        assertTrue("expected cases with speech", withRegions >= 5)
    }

    @Test
    fun primingHappensOnTheOpeningFrames() {
        for (case in Golden.streamCases) {
            if (!Golden.options(case).vad.enabled) continue
            val calls = case.obj("vad_calls")
            val prime = calls.int("prime_calls")
            val frames = case.string("flags").length
            // Frames under the energy floor are not shown to the VAD.
            assertEquals(case.string("name"), calls.int("count"), prime + frames - calls.int("gated_frames"))
            val expectedPrime = Math.min(
                (SpeechDetector.PRIME_MS + Golden.options(case).vad.frameMs - 1) / Golden.options(case).vad.frameMs,
                case.obj("audio").int("samples") / case.int("frame_length")
            )
            assertEquals("${case.string("name")}: priming calls", expectedPrime, prime)
        }
    }

    @Test
    fun pcm16ConversionTruncatesLikeNumpy() {
        val x = floatArrayOf(1.5f, -1.5f, 0.99999f, -0.5f, 1e-5f, -3.1e-5f, 0.0f)
        val expected = shortArrayOf(32767, -32767, 32766, -16383, 0, -1, 0)
        val y = SpeechDetector.toPcm16(x)
        for (i in x.indices) assertEquals("sample $i", expected[i], y[i])
    }

    @Test
    fun withoutVadTheWholeAudioIsOneRegion() {
        val det = SpeechDetector(VadOptions(enabled = false), 16000, null)
        val u = det.push(FloatArray(16000 + 100))
        assertEquals(33, u.flags.size)
        assertTrue(u.flags.all { it })
        assertTrue(u.done.isEmpty())
        val fin = det.finish(16100)
        assertEquals(1, fin.done.size)
        assertEquals(0L, fin.done[0].start)
        assertEquals(16100L, fin.done[0].end)
    }

    @Test(expected = OptionsException::class)
    fun enabledVadNeedsAFactory() {
        SpeechDetector(VadOptions(), 16000, null)
    }

    @Test(expected = UnsupportedAudioException::class)
    fun rejectsRatesWebrtcVadCannotTake() {
        SpeechDetector(VadOptions(enabled = false), 22050, null)
    }
}
