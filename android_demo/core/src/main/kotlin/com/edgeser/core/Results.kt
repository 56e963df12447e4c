package com.edgeser.core

/**
 * One model window on the timeline (Python: `edge_ser.results.WindowResult`).
 *
 * @property startSample first sample, at the model rate.
 * @property endSample one past the last sample.
 * @property start seconds of the input.
 * @property end seconds of the input.
 * @property scores probability per label, in the model's label order (sums to 1).
 * @property speechRatio share of the window that VAD marked as speech (0..1).
 */
class WindowResult(
    val startSample: Long,
    val endSample: Long,
    val start: Double,
    val end: Double,
    val labels: List<String>,
    val scores: DoubleArray,
    val speechRatio: Double
) {
    /** Index of the top class (the first, on ties, like numpy's argmax). */
    val labelIndex: Int = argmax(scores)

    val label: String get() = labels[labelIndex]

    val duration: Double get() = end - start

    val confidence: Double get() = scores[labelIndex]

    override fun toString(): String =
        "WindowResult(%.3f-%.3f s, %s %.3f, speech %.2f)".format(start, end, label, confidence, speechRatio)

    companion object {
        fun argmax(x: DoubleArray): Int {
            var best = 0
            for (i in 1 until x.size) if (x[i] > x[best]) best = i
            return best
        }
    }
}

/** A span of speech found by VAD, in samples and seconds of the input. */
class SpeechRegion(val startSample: Long, val endSample: Long, val start: Double, val end: Double) {
    val duration: Double get() = end - start

    override fun toString(): String = "SpeechRegion(%.3f-%.3f s)".format(start, end)
}

/**
 * The result for one input (Python: `edge_ser.results.ClassificationResult`).
 *
 * With no speech (silence, noise, audio shorter than the model accepts) [label] is null and
 * [scores] is empty: a defined "no speech" result, not an error.
 */
class ClassificationResult(
    val label: String?,
    val labels: List<String>,
    val scores: DoubleArray,
    val duration: Double,
    val windows: List<WindowResult>,
    val speechRegions: List<SpeechRegion>,
    val speechDuration: Double,
    val aggregation: AggregationMethod
) {
    val hasSpeech: Boolean get() = label != null

    val speechRatio: Double get() = if (duration > 0) speechDuration / duration else 0.0
}
