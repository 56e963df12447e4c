package com.edgeser.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

/** Aggregation.kt against edge_ser/aggregation.py, on Python's own window probabilities. */
class AggregationGoldenTest {
    private fun pythonWindows(case: JsonObject, labels: List<String>): List<WindowResult> =
        case.objects("windows").map { w ->
            WindowResult(
                w.long("start_sample"), w.long("end_sample"), w.double("start"), w.double("end"),
                labels, w.doubles("probabilities"), w.double("speech_ratio")
            )
        }

    @Test
    fun everyMethodAndRatioMatchesPython() {
        val labels = Golden.labels
        var checked = 0
        val methods = HashSet<String>()
        for (case in Golden.streamCases) {
            val windows = pythonWindows(case, labels)
            for (a in case.objects("aggregates")) {
                val method = a.string("method")
                val options = AggregationOptions(AggregationMethod.fromName(method), a.double("min_speech_ratio"))
                val agg = Aggregation.aggregate(windows, labels, options)
                val what = "${case.string("name")} $method ${options.minSpeechRatio}"
                assertEquals("$what: label", a.stringOrNull("label"), agg.label)
                val scores = a.doubles("scores")
                assertEquals("$what: scores", scores.size, agg.scores.size)
                for (k in scores.indices) assertEquals("$what: ${labels[k]}", scores[k], agg.scores[k], Tolerance.AGGREGATION)
                if (windows.isNotEmpty()) {
                    var sum = 0.0
                    for (s in agg.scores) sum += s
                    assertEquals("$what: scores sum to 1", 1.0, sum, 1e-12)
                }
                checked++
                methods.add(method)
            }
        }
        assertEquals(setOf("duration", "confidence", "vote", "mean"), methods)
        assertTrue(checked >= 40)
    }

    @Test
    fun goldenCasesCoverDisagreeingMethods() {
        // The golden data is only a strong check if the methods disagree somewhere.
        var disagreements = 0
        for (case in Golden.streamCases) {
            val labels = case.objects("aggregates").mapNotNull { it.stringOrNull("label") }.toSet()
            if (labels.size > 1) disagreements++
        }
        assertTrue("expected cases where methods or ratios pick different labels", disagreements >= 2)
    }

    private fun window(scores: DoubleArray, ratio: Double, seconds: Double = 1.0) =
        WindowResult(0, (seconds * 16000).toLong(), 0.0, seconds, listOf("a", "b", "c"), scores, ratio)

    @Test
    fun voteTieGoesToTheHigherMeanProbability() {
        val ws = listOf(
            window(doubleArrayOf(0.6, 0.3, 0.1), 1.0),
            window(doubleArrayOf(0.05, 0.9, 0.05), 1.0)
        )
        val agg = Aggregation.aggregate(ws, listOf("a", "b", "c"), AggregationOptions(AggregationMethod.VOTE, 0.0))
        assertEquals("b", agg.label)
        assertEquals(0.5, agg.scores[0], 0.0)
        assertEquals(0.5, agg.scores[1], 0.0)
    }

    @Test
    fun lowSpeechWindowsAreLeftOutUnlessAllAre() {
        val ws = listOf(
            window(doubleArrayOf(0.8, 0.1, 0.1), 0.1),
            window(doubleArrayOf(0.1, 0.1, 0.8), 0.9)
        )
        val labels = listOf("a", "b", "c")
        assertEquals("c", Aggregation.aggregate(ws, labels, AggregationOptions(AggregationMethod.MEAN, 0.5)).label)
        val all = Aggregation.aggregate(ws, labels, AggregationOptions(AggregationMethod.MEAN, 0.95))
        assertEquals(0.45, all.scores[0], 1e-15)
        // duration weights: speech seconds; no speech at all falls back to the plain mean
        val silent = listOf(window(doubleArrayOf(0.8, 0.1, 0.1), 0.0), window(doubleArrayOf(0.2, 0.1, 0.7), 0.0))
        val d = Aggregation.aggregate(silent, labels, AggregationOptions(AggregationMethod.DURATION, 0.0))
        assertEquals(0.5, d.scores[0], 1e-15)
        assertNull(Aggregation.aggregate(emptyList(), labels, AggregationOptions()).label)
    }
}
