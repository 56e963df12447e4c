package com.edgeser.core

/**
 * Whole-signal sample-rate conversion for audio files that are not at the model's rate.
 *
 * A Blackman-windowed sinc interpolator (16 zero crossings each side, cutoff at 0.97 of the
 * lower Nyquist frequency, kernel read from a table with linear interpolation). It is NOT
 * the Python runtime's resampler (soxr "HQ"): results on resampled files differ slightly
 * from `edge-ser classify`. Audio already at the model's rate (the microphone path, 16 kHz
 * WAV) is never resampled, and only that path is checked against Python.
 */
object Resampler {
    private const val ZERO_CROSSINGS = 16
    private const val TABLE_STEPS = 512 // kernel samples per unit of its argument
    private const val ROLLOFF = 0.97

    /** The kernel h(u) = sinc(u) * blackman(u / ZERO_CROSSINGS) for u in [0, ZERO_CROSSINGS]. */
    private val table: FloatArray by lazy {
        val n = ZERO_CROSSINGS * TABLE_STEPS + 2
        FloatArray(n) { i ->
            val u = i.toDouble() / TABLE_STEPS
            if (u >= ZERO_CROSSINGS) {
                0.0f
            } else {
                val sinc = if (u == 0.0) 1.0 else Math.sin(Math.PI * u) / (Math.PI * u)
                val w = 0.42 + 0.5 * Math.cos(Math.PI * u / ZERO_CROSSINGS) +
                    0.08 * Math.cos(2 * Math.PI * u / ZERO_CROSSINGS)
                (sinc * w).toFloat()
            }
        }
    }

    private fun kernel(u: Double): Double {
        val a = Math.abs(u) * TABLE_STEPS
        val i = a.toInt()
        if (i >= ZERO_CROSSINGS * TABLE_STEPS) return 0.0
        val frac = a - i
        return table[i] + frac * (table[i + 1] - table[i])
    }

    /** Output length for [n] input samples: `round(n * outRate / inRate)`. */
    fun outputLength(n: Int, inRate: Int, outRate: Int): Int =
        ((n.toLong() * outRate + inRate / 2) / inRate).toInt()

    /** Resample mono [x] from [inRate] to [outRate] Hz; a copy when the rates are equal. */
    fun resample(x: FloatArray, inRate: Int, outRate: Int): FloatArray {
        require(inRate > 0 && outRate > 0) { "rates must be positive, got $inRate and $outRate" }
        if (inRate == outRate) return x.copyOf()
        val outLen = outputLength(x.size, inRate, outRate)
        val y = FloatArray(outLen)
        // Cutoff in cycles per input sample, and the kernel's stretch to match it.
        val scale = Math.min(1.0, outRate.toDouble() / inRate) * ROLLOFF
        val half = ZERO_CROSSINGS / scale // kernel half-width in input samples
        val step = inRate.toDouble() / outRate
        for (j in 0 until outLen) {
            val t = j * step // position in input samples
            val lo = Math.max(0, Math.ceil(t - half).toInt())
            val hi = Math.min(x.size - 1, Math.floor(t + half).toInt())
            var acc = 0.0
            for (k in lo..hi) acc += x[k] * kernel((t - k) * scale)
            y[j] = (acc * scale).toFloat()
        }
        return y
    }
}
