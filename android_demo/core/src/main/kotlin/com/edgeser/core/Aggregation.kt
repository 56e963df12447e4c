package com.edgeser.core

/**
 * Temporal aggregation, exactly as `edge_ser/aggregation.py`: per-window probabilities to
 * one label and score set per input.
 *
 * * `duration`: mean weighted by each window's speech seconds (`speechRatio * duration`);
 *   falls back to the plain mean when no window holds speech.
 * * `confidence`: mean weighted by each window's top probability.
 * * `vote`: each window votes for its top class; the scores are the vote shares and a tie goes
 *   to the tied class with the highest mean probability.
 * * `mean`: the unweighted mean.
 *
 * Windows whose `speechRatio` is below `minSpeechRatio` are left out; if that would leave
 * nothing, every window is used. Scores are computed in double precision and sum to 1.
 */
object Aggregation {
    /** The aggregate: [label] null and [scores] empty when there are no windows. */
    class Aggregate(val label: String?, val labelIndex: Int, val scores: DoubleArray)

    /** The windows that take part in the aggregate. */
    fun selectWindows(windows: List<WindowResult>, minSpeechRatio: Double): List<WindowResult> {
        val kept = windows.filter { it.speechRatio >= minSpeechRatio }
        return if (kept.isEmpty()) windows else kept
    }

    fun aggregate(windows: List<WindowResult>, labels: List<String>, options: AggregationOptions): Aggregate {
        val used = selectWindows(windows, options.minSpeechRatio)
        if (used.isEmpty()) return Aggregate(null, -1, DoubleArray(0))
        val k = labels.size
        for (w in used) {
            if (w.scores.size != k) {
                throw IllegalArgumentException("a window has ${w.scores.size} scores for ${labels.size} labels")
            }
        }
        if (options.method == AggregationMethod.VOTE) return vote(used, labels)
        val weights = weights(options.method, used)
        var wsum = 0.0
        for (w in weights) wsum += w
        val scores = DoubleArray(k)
        for (c in 0 until k) {
            var acc = 0.0
            for (i in used.indices) acc += weights[i] * used[i].scores[c]
            scores[c] = acc / wsum
        }
        var total = 0.0
        for (s in scores) total += s
        for (c in 0 until k) scores[c] = scores[c] / total
        val best = WindowResult.argmax(scores)
        return Aggregate(labels[best], best, scores)
    }

    private fun weights(method: AggregationMethod, used: List<WindowResult>): DoubleArray {
        if (method == AggregationMethod.CONFIDENCE) {
            return DoubleArray(used.size) { i ->
                var m = Double.NEGATIVE_INFINITY
                for (p in used[i].scores) if (p > m) m = p
                m
            }
        }
        if (method == AggregationMethod.DURATION) {
            val w = DoubleArray(used.size) { i -> used[i].speechRatio * used[i].duration }
            var sum = 0.0
            for (v in w) sum += v
            if (sum > 0) return w
        }
        return DoubleArray(used.size) { 1.0 }
    }

    private fun vote(used: List<WindowResult>, labels: List<String>): Aggregate {
        val k = labels.size
        val votes = DoubleArray(k)
        for (w in used) votes[WindowResult.argmax(w.scores)] += 1.0
        var total = 0.0
        for (v in votes) total += v
        val shares = DoubleArray(k) { votes[it] / total }
        var maxVotes = 0.0
        for (v in votes) if (v > maxVotes) maxVotes = v
        val mean = DoubleArray(k)
        for (c in 0 until k) {
            var acc = 0.0
            for (w in used) acc += w.scores[c]
            mean[c] = acc / used.size
        }
        var best = -1
        for (c in 0 until k) {
            if (votes[c] == maxVotes && (best < 0 || mean[c] > mean[best])) best = c
        }
        return Aggregate(labels[best], best, shares)
    }
}
