package com.edgeser.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** Preprocess.kt against edge_ser/preprocess.py. */
class PreprocessGoldenTest {
    @Test
    fun edgeCasesMatchPython() {
        val cases = Golden.json("preprocess.json").objects("cases")
        assertTrue("expected the golden edge cases", cases.size >= 10)
        for (c in cases) {
            val name = c.string("name")
            val config = PreprocessingConfig.fromJson(c.obj("config"))
            val x = Golden.f32(c.string("input"))
            val expected = Golden.f32(c.string("output"))
            val trim = c.list("trim").map { (it as Double).toInt() }
            val bounds = Preprocess.trimBounds(x, config.trimTopDb, config.trimFrameLength)
            assertEquals("$name: trim bounds", trim, bounds.toList())
            val y = Preprocess.apply(x, config)
            assertEquals("$name: output length", expected.size, y.size)
            for (i in y.indices) {
                assertEquals("$name: sample $i", expected[i].toDouble(), y[i].toDouble(), Tolerance.PREPROCESS)
            }
        }
    }

    @Test
    fun streamWindowsMatchPython() {
        var checked = 0
        for (case in Golden.streamCases) {
            val name = case.string("name")
            val x = Golden.audio(case)
            val config = Golden.metadata(case).preprocessing
            val windows = case.objects("windows")
            val pre = case.objects("preprocessed")
            assertEquals(windows.size, pre.size)
            for (i in windows.indices) {
                val w = windows[i]
                val p = pre[i]
                val window = x.copyOfRange(w.int("start_sample"), w.int("end_sample"))
                val y = Preprocess.apply(window, config)
                val where = "$name window $i"
                assertEquals("$where: length", p.int("length"), y.size)
                val trim = Preprocess.trimBounds(window, config.trimTopDb, config.trimFrameLength)
                assertEquals("$where: trim", p.list("trim").map { (it as Double).toInt() }, trim.toList())
                var sum = 0.0
                var sumSq = 0.0
                for (v in y) {
                    sum += v
                    sumSq += v.toDouble() * v
                }
                assertEquals("$where: sum", p.double("sum"), sum, 1e-6 * Math.max(1.0, Math.abs(p.double("sum"))))
                assertEquals("$where: sum of squares", p.double("sum_sq"), sumSq, 1e-6 * p.double("sum_sq"))
                val stride = p.int("stride")
                val samples = p.doubles("samples")
                for (j in samples.indices) {
                    assertEquals("$where: sample ${j * stride}", samples[j], y[j * stride].toDouble(), Tolerance.PREPROCESS)
                }
                checked++
            }
        }
        assertTrue("expected preprocessed windows in the golden data", checked >= 10)
    }

    /** Observed, and expected from the arithmetic: the port reproduces numpy bit for bit. */
    @Test
    fun goldenWindowsAreBitExact() {
        for (case in Golden.streamCases) {
            val x = Golden.audio(case)
            val config = Golden.metadata(case).preprocessing
            val windows = case.objects("windows")
            val pre = case.objects("preprocessed")
            for (i in windows.indices) {
                val y = Preprocess.apply(x.copyOfRange(windows[i].int("start_sample"), windows[i].int("end_sample")), config)
                assertEquals("${case.string("name")} window $i: CRC-32 of the float32 output", pre[i].long("crc32"), Golden.crc32(y))
            }
        }
    }

    @Test
    fun preEmphasisAndNormalisationFollowTheDefinition() {
        val x = floatArrayOf(0.5f, -0.25f, 0.125f)
        val y = Preprocess.preEmphasis(x, 0.97)
        assertArrayEquals(floatArrayOf(0.5f, -0.25f - 0.97f * 0.5f, 0.125f - 0.97f * -0.25f), y, 0f)
        val z = Preprocess.peakNormalize(floatArrayOf(0.1f, -0.4f), 0.5)
        assertArrayEquals(floatArrayOf(0.125f, -0.5f), z, 1e-7f)
        // Too quiet to normalise: unchanged, and the input is never modified in place.
        val quiet = floatArrayOf(1e-9f, -2e-9f)
        assertArrayEquals(quiet, Preprocess.peakNormalize(quiet, 1.0), 0f)
        assertEquals(0, Preprocess.apply(FloatArray(0), PreprocessingConfig()).size)
    }
}
