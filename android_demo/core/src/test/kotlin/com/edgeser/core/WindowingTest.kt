package com.edgeser.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** Windowing.kt: the policy of edge_ser/windowing.py, on hand-made cases and the golden plans. */
class WindowingTest {
    private val plan = WindowPlan(window = 100, hop = 80, minWindow = 30)

    @Test
    fun plansMatchPython() {
        for (case in Golden.streamCases) {
            val md = Golden.metadata(case)
            val p = WindowPlan.fromOptions(Golden.options(case).window, md.maxWindowS, md.sampleRate)
            val g = case.obj("plan")
            assertEquals(case.string("name"), WindowPlan(g.int("window"), g.int("hop"), g.int("min_window")), p)
        }
    }

    @Test
    fun planRoundsHalfToEvenLikePython() {
        // 0.53125 s * 16000 = 8500 exactly; 0.0000625 s * 16000 = 1.0; 2.5 samples -> 2 (half to even)
        val p = WindowPlan.fromOptions(WindowOptions(windowS = 0.53125, overlapS = 2.5 / 16000, minWindowS = 1.0 / 16000), 8.0, 16000)
        assertEquals(8500, p.window)
        assertEquals(8498, p.hop)
        assertEquals(1, p.minWindow)
    }

    @Test(expected = OptionsException::class)
    fun windowLongerThanTheModelIsRefused() {
        WindowPlan.fromOptions(WindowOptions(windowS = 10.0), 8.0, 16000)
    }

    @Test
    fun gridTailAndSlideBack() {
        // Region of 250 samples: grid windows at 0 and 80 (ends 100, 180); remainder from 160 is 90 >= 30.
        assertEquals(listOf(Span(0, 100), Span(80, 180), Span(160, 250)), Windowing.closingWindows(0, 250, plan, 0))
        // Region of 200: grid 0-100, 80-180; the tail 160-200 is 40 >= 30: own window.
        assertEquals(listOf(Span(0, 100), Span(80, 180), Span(160, 200)), Windowing.closingWindows(0, 200, plan, 0))
        // Region of 185: tail 160-185 is 25 < 30: the last window slides back to 85-185.
        assertEquals(listOf(Span(0, 100), Span(80, 180), Span(85, 185)), Windowing.closingWindows(0, 185, plan, 0))
        // Exactly covered: no tail.
        assertEquals(listOf(Span(10, 110), Span(90, 190)), Windowing.closingWindows(10, 190, plan, 0))
    }

    @Test
    fun shortRegions() {
        // Shorter than the window but >= minWindow: one window, the region itself.
        assertEquals(listOf(Span(50, 90)), Windowing.closingWindows(50, 90, plan, 0))
        // Shorter than minWindow: extended backwards, clipped at 0.
        assertEquals(listOf(Span(60, 90)), Windowing.closingWindows(70, 90, plan, 0))
        assertEquals(listOf(Span(0, 20)), Windowing.closingWindows(5, 20, plan, 0))
        // Already emitted: nothing more.
        assertTrue(Windowing.closingWindows(70, 90, plan, 1).isEmpty())
    }

    @Test
    fun streamingEmitsTheSameWindowsAsClosingAtOnce() {
        for (end in longArrayOf(250, 200, 185, 190, 420, 1000)) {
            val all = Windowing.closingWindows(0, end, plan, 0)
            val emitted = ArrayList<Span>()
            var done = 0
            var known = 0L
            while (known < end) {
                known = Math.min(end, known + 7)
                val spans = Windowing.fullWindows(0, known, plan, done)
                done += spans.size
                emitted.addAll(spans)
            }
            emitted.addAll(Windowing.closingWindows(0, end, plan, done))
            assertEquals("region of $end", all, emitted)
            for (w in emitted) assertTrue(w.length <= plan.window && w.start >= 0 && w.end <= end)
        }
    }

    @Test
    fun speechFractionCountsPartialFrames() {
        // Frames of 10 samples: speech in frames 1 and 3.
        val flags = booleanArrayOf(false, true, false, true)
        assertEquals(0.0, Windowing.speechFraction(flags, 0, 10, Span(0, 10)), 0.0)
        assertEquals(0.5, Windowing.speechFraction(flags, 0, 10, Span(5, 25)), 0.0) // all 10 samples of frame 1
        // Frames not yet classified count as non-speech.
        assertEquals(10.0 / 60.0, Windowing.speechFraction(flags, 0, 10, Span(30, 90)), 1e-15)
        // Flags starting at frame 2 (earlier ones discarded).
        assertEquals(0.5, Windowing.speechFraction(booleanArrayOf(false, true), 2, 10, Span(20, 40)), 0.0)
        assertEquals(0.0, Windowing.speechFraction(flags, 0, 10, Span(7, 7)), 0.0)
    }

    @Test
    fun rollingBufferKeepsAbsoluteIndices() {
        val b = FloatRollingBuffer()
        val x = FloatArray(5000) { it.toFloat() }
        b.append(x.copyOfRange(0, 3000))
        b.append(x.copyOfRange(3000, 5000))
        b.discardBefore(4000)
        assertEquals(4000L, b.offset)
        assertEquals(5000L, b.end)
        assertEquals(4321.0f, b.get(4321, 4322)[0], 0f)
        try {
            b.get(3999, 4001)
            throw AssertionError("expected an IndexOutOfBoundsException")
        } catch (e: IndexOutOfBoundsException) {
            assertTrue(e.message!!.contains("not buffered"))
        }
    }
}
