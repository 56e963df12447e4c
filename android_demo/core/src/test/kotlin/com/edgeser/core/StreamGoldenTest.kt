package com.edgeser.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/**
 * The whole pipeline (EmotionStream) against edge_ser.Stream: same audio in, same windows
 * (exact sample indices), speech ratios, probabilities and aggregate, for any chunk size.
 */
class StreamGoldenTest {
    private fun pipeline(case: JsonObject, vad: FrameVadFactory = ReplayVadFactory(case)): EmotionPipeline {
        val md = Golden.metadata(case)
        return EmotionPipeline(md, FakeClassifier.fromIndex(md.sampleRate), Golden.options(case), vad)
    }

    private fun feed(p: EmotionPipeline, x: FloatArray, chunk: Int): ClassificationResult {
        val stream = p.stream()
        var emitted = 0
        var i = 0
        while (i < x.size) {
            val end = Math.min(x.size, i + chunk)
            emitted += stream.acceptWaveform(x.copyOfRange(i, end)).size
            i = end
        }
        val result = stream.finish()
        assertTrue("windows returned while streaming are a subset of the result", emitted <= result.windows.size)
        return result
    }

    private fun assertMatches(case: JsonObject, r: ClassificationResult, what: String) {
        val labels = Golden.labels
        val expected = case.objects("windows")
        assertEquals("$what: number of windows", expected.size, r.windows.size)
        for (i in expected.indices) {
            val e = expected[i]
            val w = r.windows[i]
            val where = "$what window $i"
            assertEquals("$where: start sample", e.long("start_sample"), w.startSample)
            assertEquals("$where: end sample", e.long("end_sample"), w.endSample)
            assertEquals("$where: start", e.double("start"), w.start, Tolerance.EXACT)
            assertEquals("$where: end", e.double("end"), w.end, Tolerance.EXACT)
            assertEquals("$where: speech ratio", e.double("speech_ratio"), w.speechRatio, Tolerance.EXACT)
            assertEquals("$where: label", e.string("label"), w.label)
            val probs = e.doubles("probabilities")
            for (k in labels.indices) {
                assertEquals("$where: p(${labels[k]})", probs[k], w.scores[k], Tolerance.SCORE)
            }
        }
        val regions = case.list("speech_regions")
        assertEquals("$what: speech regions", regions.size, r.speechRegions.size)
        for (i in regions.indices) {
            val g = (regions[i] as List<*>).map { it as Double }
            assertEquals("$what region $i start", g[0], r.speechRegions[i].start, Tolerance.EXACT)
            assertEquals("$what region $i end", g[1], r.speechRegions[i].end, Tolerance.EXACT)
        }
        val res = case.obj("result")
        assertEquals("$what: label", res.stringOrNull("label"), r.label)
        val scores = res.doubles("scores")
        assertEquals("$what: number of scores", scores.size, r.scores.size)
        for (k in scores.indices) assertEquals("$what: score ${labels[k]}", scores[k], r.scores[k], Tolerance.SCORE)
        assertEquals("$what: duration", res.double("duration"), r.duration, Tolerance.EXACT)
        assertEquals("$what: speech duration", res.double("speech_duration"), r.speechDuration, Tolerance.EXACT)
        assertEquals("$what: aggregation", res.string("aggregation"), r.aggregation.wireName)
    }

    @Test
    fun everyCaseMatchesPythonForAnyChunkSize() {
        var windows = 0
        for (case in Golden.streamCases) {
            val x = Golden.audio(case)
            for (chunk in intArrayOf(80000, 4096, 333, 1)) {
                val factory = ReplayVadFactory(case)
                val r = feed(pipeline(case, factory), x, chunk)
                assertMatches(case, r, "${case.string("name")} (chunks of $chunk)")
                for (v in factory.created) assertEquals("all recorded VAD calls replayed", v.expectedCalls, v.calls)
            }
            windows += case.objects("windows").size
        }
        assertTrue("expected at least 15 golden windows, got $windows", windows >= 15)
    }

    @Test
    fun classifyEqualsStreaming() {
        for (case in Golden.streamCases) {
            val r = pipeline(case).classify(Golden.audio(case))
            assertMatches(case, r, "${case.string("name")} (classify)")
        }
    }

    @Test
    fun pcm16InputEqualsFloatInput() {
        val case = Golden.streamCases.first { it.string("name") == "short_windows_tail" }
        val pcm = Golden.int16(case.obj("audio"))
        val stream = pipeline(case).stream()
        var i = 0
        while (i < pcm.size) {
            val n = Math.min(1600, pcm.size - i)
            stream.acceptPcm16(pcm.copyOfRange(i, i + n))
            i += n
        }
        assertMatches(case, stream.finish(), "short_windows_tail (PCM16 input)")
    }

    @Test
    fun preprocessedModelsGetPreprocessedWindows() {
        val case = Golden.streamCases.first { it.string("name") == "preprocessed_model" }
        val md = Golden.metadata(case)
        assertEquals(ModelMetadata.INPUT_PREPROCESSED, md.inputKind)
        val seen = ArrayList<FloatArray>()
        val fake = FakeClassifier.fromIndex(md.sampleRate)
        val spy = object : WindowClassifier {
            override fun classify(window: FloatArray): FloatArray {
                seen.add(window)
                return fake.classify(window)
            }
        }
        val r = EmotionPipeline(md, spy, Golden.options(case), ReplayVadFactory(case)).classify(Golden.audio(case))
        assertEquals(r.windows.size, seen.size)
        for (x in seen) {
            var peak = 0.0f
            for (v in x) peak = Math.max(peak, Math.abs(v))
            assertEquals("peak-normalised input", 1.0f, peak, 1e-6f)
        }
    }

    @Test
    fun memoryStaysBoundedOnALongStream() {
        // 3 minutes of alternating 2 s speech bursts and 1 s pauses, with an energy VAD.
        val md = ModelMetadata(labels = listOf("a", "b", "c", "d"))
        val p = EmotionPipeline(md, FakeClassifier.fromIndex(16000), PipelineOptions(), EnergyVadFactory())
        val stream = p.stream()
        var maxBuffered = 0.0
        val chunk = FloatArray(1600)
        var t = 0L
        for (c in 0 until 180 * 10) {
            for (i in chunk.indices) {
                val s = t + i
                val speaking = (s / 16000) % 3 != 2L
                chunk[i] = if (speaking) (0.3 * Math.sin(2 * Math.PI * 150 * s / 16000.0)).toFloat() else 0f
            }
            t += chunk.size
            stream.acceptWaveform(chunk)
            maxBuffered = Math.max(maxBuffered, stream.bufferedSeconds)
        }
        val r = stream.finish()
        assertTrue("expected many windows, got ${r.windows.size}", r.windows.size >= 50)
        assertTrue("buffer grew to $maxBuffered s", maxBuffered < 2 * md.maxWindowS)
        assertEquals(180.0, r.duration, 1e-9)
    }

    @Test
    fun noSpeechGivesANullLabel() {
        val case = Golden.streamCases.first { it.string("name") == "silence" }
        val r = pipeline(case).classify(Golden.audio(case))
        assertNull(r.label)
        assertEquals(0, r.scores.size)
        assertTrue(r.windows.isEmpty())
        assertTrue(!r.hasSpeech)
    }

    @Test
    fun finishedStreamsAndBadSamplesAreRejected() {
        val case = Golden.streamCases.first { it.string("name") == "silence" }
        val stream = pipeline(case).stream()
        try {
            stream.acceptWaveform(floatArrayOf(0f, Float.NaN))
            fail("NaN accepted")
        } catch (e: InvalidAudioException) {
            assertTrue(e.message!!.contains("NaN"))
        }
        try {
            stream.acceptWaveform(floatArrayOf(2e6f))
            fail("2e6 accepted")
        } catch (e: InvalidAudioException) {
            assertTrue(e.message!!.contains("magnitude"))
        }
        stream.finish()
        try {
            stream.acceptWaveform(FloatArray(10))
            fail("a finished stream accepted audio")
        } catch (e: EdgeSerException) {
            assertTrue(e.message!!.contains("finished"))
        }
    }

    @Test
    fun invalidProbabilitiesAreAModelError() {
        val md = ModelMetadata(labels = listOf("a", "b"))
        val bad = object : WindowClassifier {
            override fun classify(window: FloatArray): FloatArray = floatArrayOf(0.5f, 0.2f, 0.3f)
        }
        val p = EmotionPipeline(md, bad, PipelineOptions(vad = VadOptions(enabled = false)))
        try {
            p.classify(FloatArray(20000))
            fail("three probabilities for two labels were accepted")
        } catch (e: ModelException) {
            assertTrue(e.message!!.contains("3 values for 2 labels"))
        }
    }
}

/** A simple energy VAD for tests that need no golden decisions. */
class EnergyVadFactory : FrameVadFactory {
    override fun create(aggressiveness: Int, sampleRate: Int, frameLength: Int): FrameVad = object : FrameVad {
        override fun isSpeech(frame: ShortArray): Boolean {
            var e = 0.0
            for (s in frame) e += s.toDouble() * s
            return e / frame.size > 1e5
        }
    }
}
