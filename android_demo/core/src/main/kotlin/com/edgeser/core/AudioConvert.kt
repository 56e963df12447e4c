package com.edgeser.core

/** Sample conversions shared by the microphone path and the WAV reader (`edge_ser/audio.py` conventions). */
object AudioConvert {
    /** Float audio is normally within [-1, 1]; larger magnitudes are refused (Python: `MAX_ABS_SAMPLE`). */
    const val MAX_ABS_SAMPLE = 1e6f

    /** Signed 16-bit PCM to float, `x / 32768` (exact, as libsndfile and numpy do it). */
    fun pcm16ToFloat(x: ShortArray, count: Int = x.size): FloatArray {
        require(count in 0..x.size) { "count must be 0..${x.size}, got $count" }
        val out = FloatArray(count)
        for (i in 0 until count) out[i] = x[i] / 32768.0f
        return out
    }

    /**
     * Interleaved frames to mono: channel mean in double precision, rounded once to float
     * (Python: `x.mean(axis=1, dtype=np.float64).astype(np.float32)`).
     */
    fun downmix(interleaved: FloatArray, channels: Int): FloatArray {
        require(channels >= 1) { "channels must be >= 1, got $channels" }
        if (channels == 1) return interleaved.copyOf()
        val frames = interleaved.size / channels
        val out = FloatArray(frames)
        for (f in 0 until frames) {
            var sum = 0.0
            val base = f * channels
            for (c in 0 until channels) sum += interleaved[base + c].toDouble()
            out[f] = (sum / channels).toFloat()
        }
        return out
    }

    /**
     * What the Python runtime does to decoded *file* samples: NaN or infinite become 0 and
     * magnitudes beyond [MAX_ABS_SAMPLE] are clipped. Returns the number of samples changed.
     */
    fun sanitizeInPlace(x: FloatArray): Int {
        var changed = 0
        for (i in x.indices) {
            val v = x[i]
            if (v.isNaN() || v.isInfinite()) {
                x[i] = 0.0f
                changed++
            } else if (v > MAX_ABS_SAMPLE) {
                x[i] = MAX_ABS_SAMPLE
                changed++
            } else if (v < -MAX_ABS_SAMPLE) {
                x[i] = -MAX_ABS_SAMPLE
                changed++
            }
        }
        return changed
    }
}
