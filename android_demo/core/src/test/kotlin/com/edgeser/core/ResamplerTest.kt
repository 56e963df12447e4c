package com.edgeser.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** Resampler.kt: not compared with soxr (see its doc), only checked for what any good resampler does. */
class ResamplerTest {
    private fun sine(n: Int, rate: Int, hz: Double) = FloatArray(n) { (0.5 * Math.sin(2 * Math.PI * hz * it / rate)).toFloat() }

    private fun maxInteriorError(y: FloatArray, expected: FloatArray, margin: Int): Double {
        var m = 0.0
        for (i in margin until y.size - margin) m = Math.max(m, Math.abs(y[i] - expected[i]).toDouble())
        return m
    }

    @Test
    fun sinesSurviveDownAndUpsampling() {
        for (inRate in intArrayOf(44100, 48000, 8000, 22050)) {
            val x = sine(inRate, inRate, 440.0)
            val y = Resampler.resample(x, inRate, 16000)
            assertEquals(16000, y.size)
            val err = maxInteriorError(y, sine(16000, 16000, 440.0), 200)
            assertTrue("$inRate Hz -> 16 kHz: max error $err", err < 2e-3)
        }
    }

    @Test
    fun contentAboveTheNewNyquistIsRemoved() {
        val x = sine(48000, 48000, 12000.0) // above 8 kHz: must vanish at 16 kHz
        val y = Resampler.resample(x, 48000, 16000)
        var m = 0.0
        for (i in 200 until y.size - 200) m = Math.max(m, Math.abs(y[i]).toDouble())
        assertTrue("aliased energy left: $m", m < 5e-3)
    }

    @Test
    fun sameRateIsACopyAndLengthsRound() {
        val x = floatArrayOf(0.1f, 0.2f)
        val y = Resampler.resample(x, 16000, 16000)
        assertTrue(x !== y)
        assertEquals(0.2f, y[1], 0f)
        assertEquals(16000, Resampler.outputLength(44100, 44100, 16000))
        assertEquals(363, Resampler.outputLength(1000, 44100, 16000)) // 362.8 -> 363
        assertEquals(0, Resampler.resample(FloatArray(0), 44100, 16000).size)
    }
}
