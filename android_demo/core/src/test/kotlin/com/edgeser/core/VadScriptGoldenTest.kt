package com.edgeser.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The region logic at its boundaries: Python's SpeechDetector and Stream driven by scripted
 * VAD decisions (gaps of exactly min_silence, blips just below and at min_speech, padding
 * clipped at both ends of the audio), replayed here.
 */
class VadScriptGoldenTest {
    private val cases = Golden.json("vad_script.json").objects("cases")

    private class Factory(private val name: String, private val decisions: String) : FrameVadFactory {
        val created = ArrayList<ReplayVad>()

        override fun create(aggressiveness: Int, sampleRate: Int, frameLength: Int): FrameVad {
            val v = ReplayVad(name, decisions, null)
            created.add(v)
            return v
        }
    }

    @Test
    fun regionsMatchPythonForAnyChunking() {
        assertTrue(cases.size >= 3)
        for (c in cases) {
            val name = c.string("name")
            val options = PipelineOptions.fromJson(c.obj("options"))
            val x = FloatArray(c.int("samples"))
            val expected = c.list("regions").map { r -> (r as List<*>).map { (it as Double).toLong() } }
            for (chunk in intArrayOf(x.size, 1000, 1)) {
                val factory = Factory(name, c.string("decisions"))
                val det = SpeechDetector(options.vad, 16000, factory)
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
                assertEquals("$name (chunk $chunk): flags", c.string("flags"), flags.toString())
                assertEquals("$name (chunk $chunk): regions", expected, regions)
                assertEquals("$name: every scripted decision used", c.string("decisions").length, factory.created[0].calls)
            }
        }
    }

    @Test
    fun windowsMatchPythonForAnyChunking() {
        for (c in cases) {
            val name = c.string("name")
            val options = PipelineOptions.fromJson(c.obj("options"))
            val md = ModelMetadata(labels = Golden.labels, inputKind = ModelMetadata.INPUT_RAW_PCM)
            val x = FloatArray(c.int("samples"))
            val expected = c.objects("windows")
            assertTrue("$name: expected windows", expected.isNotEmpty())
            for (chunk in intArrayOf(1000, 4096, 1)) {
                val p = EmotionPipeline(md, FakeClassifier.fromIndex(16000), options, Factory(name, c.string("decisions")))
                val r = p.classify(x, chunk)
                assertEquals("$name (chunk $chunk): windows", expected.size, r.windows.size)
                for (i in expected.indices) {
                    val e = expected[i]
                    val w = r.windows[i]
                    assertEquals("$name window $i start", e.long("start_sample"), w.startSample)
                    assertEquals("$name window $i end", e.long("end_sample"), w.endSample)
                    assertEquals("$name window $i speech ratio", e.double("speech_ratio"), w.speechRatio, Tolerance.EXACT)
                }
            }
        }
    }
}
