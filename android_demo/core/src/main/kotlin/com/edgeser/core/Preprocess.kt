package com.edgeser.core

/**
 * The paper's preprocessing, exactly as `edge_ser/preprocess.py`: silence trim, pre-emphasis,
 * peak normalisation, one window at a time.
 *
 * The app uses it only for a model without in-graph preprocessing (`input_kind =
 * "preprocessed"`); the recommended `model_raw.ort` does the same inside the graph. The
 * arithmetic follows numpy's: frame power in float64, pre-emphasis and scaling in float32,
 * the scale factor computed in float64 and rounded once to float32. The JVM tests check the
 * output against the Python runtime's (bit for bit on the golden vectors; the stated
 * tolerance is 1e-5).
 */
object Preprocess {
    /**
     * The `[start, end)` sample bounds of [x] with leading and trailing silence cut.
     *
     * Frames are non-overlapping blocks of [frameLength] samples (the last may be partial);
     * a frame is silent when its mean power is more than [topDb] dB below the loudest
     * frame's. All-zero or empty input keeps its full extent; `topDb <= 0` disables trimming.
     */
    fun trimBounds(x: FloatArray, topDb: Double, frameLength: Int): IntArray {
        val n = x.size
        if (n == 0 || topDb <= 0) return intArrayOf(0, n)
        require(frameLength >= 1) { "frameLength must be >= 1, got $frameLength" }
        val nFrames = (n + frameLength - 1) / frameLength
        val power = DoubleArray(nFrames)
        var peak = Double.NEGATIVE_INFINITY
        for (f in 0 until nFrames) {
            val a = f * frameLength
            val b = Math.min(n, a + frameLength)
            var sum = 0.0
            for (i in a until b) {
                val v = x[i].toDouble()
                sum += v * v
            }
            // Mean over the real samples only, so a short last frame is not diluted.
            power[f] = sum / (b - a)
            if (power[f] > peak) peak = power[f]
        }
        if (!(peak > 0.0)) return intArrayOf(0, n)
        // 10*log10(p/peak) > -topDb  <=>  p > peak * 10^(-topDb/10)
        val threshold = peak * StrictMath.pow(10.0, -topDb / 10.0)
        var first = -1
        var last = -1
        for (f in 0 until nFrames) {
            if (power[f] > threshold) {
                if (first < 0) first = f
                last = f
            }
        }
        if (first < 0) return intArrayOf(0, n) // unreachable: the loudest frame exceeds the threshold
        return intArrayOf(first * frameLength, Math.min(n, (last + 1) * frameLength))
    }

    fun trimSilence(x: FloatArray, topDb: Double = 20.0, frameLength: Int = 512): FloatArray {
        val b = trimBounds(x, topDb, frameLength)
        return x.copyOfRange(b[0], b[1])
    }

    /** `y[0] = x[0]`, `y[n] = x[n] - coef * x[n-1]`, in float32 with `coef` rounded to float32. */
    fun preEmphasis(x: FloatArray, coef: Double = 0.97): FloatArray {
        if (coef == 0.0 || x.isEmpty()) return x.copyOf()
        val c = coef.toFloat()
        val y = FloatArray(x.size)
        y[0] = x[0]
        for (i in 1 until x.size) {
            val scaled: Float = c * x[i - 1]
            y[i] = x[i] - scaled
        }
        return y
    }

    /** `x * (peak / max|x|)` when `max|x| > 1e-8`, else `x` unchanged. */
    fun peakNormalize(x: FloatArray, peak: Double = 1.0): FloatArray {
        if (x.isEmpty()) return x.copyOf()
        var m = 0.0f
        for (v in x) {
            val a = Math.abs(v)
            if (a > m) m = a
        }
        if (m.toDouble() <= 1e-8) return x.copyOf()
        val scale = (peak / m.toDouble()).toFloat()
        val y = FloatArray(x.size)
        for (i in x.indices) y[i] = x[i] * scale
        return y
    }

    /** Trim, pre-emphasis and peak normalisation of one mono window, as [config] says. */
    fun apply(x: FloatArray, config: PreprocessingConfig): FloatArray {
        var y = x
        if (config.trimTopDb > 0) y = trimSilence(y, config.trimTopDb, config.trimFrameLength)
        y = preEmphasis(y, config.preEmphasis)
        if (config.peakNormalize) y = peakNormalize(y, config.peak)
        return y
    }
}
