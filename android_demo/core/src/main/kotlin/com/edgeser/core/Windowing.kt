package com.edgeser.core

/** A span of samples `[start, end)`. */
data class Span(val start: Long, val end: Long) {
    val length: Long get() = end - start
}

/**
 * Window lengths in samples at the model rate (Python: `edge_ser.windowing.WindowPlan`).
 */
data class WindowPlan(val window: Int, val hop: Int, val minWindow: Int) {
    companion object {
        /** Resolve [options] against the model's `max_window_s`, rounding like Python's `round()`. */
        fun fromOptions(options: WindowOptions, maxWindowS: Double, sampleRate: Int): WindowPlan {
            val windowS = options.windowS ?: maxWindowS
            if (windowS > maxWindowS) {
                throw OptionsException(
                    "WindowOptions.window_s must be at most the model's max_window_s ($maxWindowS s), got $windowS"
                )
            }
            if (!(options.overlapS < windowS / 2)) {
                throw OptionsException(
                    "WindowOptions.overlap_s must be less than half the window ($windowS s), got ${options.overlapS}"
                )
            }
            if (options.minWindowS > windowS) {
                throw OptionsException(
                    "WindowOptions.min_window_s must be at most the window ($windowS s), got ${options.minWindowS}"
                )
            }
            // Python's round() rounds half to even, as Math.rint does.
            val window = Math.rint(windowS * sampleRate).toInt()
            val overlap = Math.rint(options.overlapS * sampleRate).toInt()
            val minWindow = Math.max(1, Math.rint(options.minWindowS * sampleRate).toInt())
            return WindowPlan(window, window - overlap, minWindow)
        }
    }
}

/**
 * Speech regions to model windows, online (Python: `edge_ser/windowing.py`).
 *
 * In samples at the model rate, for a region `[S, E)`, with `hop = window - overlap`:
 * * window `k` is `[S + k*hop, S + k*hop + window)`; every grid window inside the region is used;
 * * the remainder after the last full window becomes one more window `[S + K*hop, E)` if it is
 *   at least `minWindow` long, else the last window is slid back to `[E - window, E)`;
 * * a region shorter than the window but at least `minWindow` long is one window `[S, E)`;
 * * a region shorter than `minWindow` is extended backwards: `[max(0, E - minWindow), E)`.
 *
 * Windows are never longer than `window`, are ordered by start and lie inside the audio; a
 * stream can emit each full window as soon as the audio reaches its end.
 */
object Windowing {
    /** Grid windows `done, done+1, ...` of a region at [start] that end by [knownEnd]. */
    fun fullWindows(start: Long, knownEnd: Long, plan: WindowPlan, done: Int): List<Span> {
        val out = ArrayList<Span>()
        var k = done.toLong()
        while (start + k * plan.hop + plan.window <= knownEnd) {
            val s = start + k * plan.hop
            out.add(Span(s, s + plan.window))
            k++
        }
        return out
    }

    /** The windows of the finished region `[start, end)` not yet emitted ([done] were). */
    fun closingWindows(start: Long, end: Long, plan: WindowPlan, done: Int): List<Span> {
        if (end - start < plan.minWindow) {
            return if (done == 0) listOf(Span(Math.max(0L, end - plan.minWindow), end)) else emptyList()
        }
        val out = ArrayList(fullWindows(start, end, plan, done))
        val k = done + out.size
        if (k == 0) return listOf(Span(start, end))
        val covered = start + (k - 1).toLong() * plan.hop + plan.window
        if (covered >= end) return out
        val tailStart = start + k.toLong() * plan.hop
        if (end - tailStart >= plan.minWindow) {
            out.add(Span(tailStart, end))
        } else {
            out.add(Span(end - plan.window, end))
        }
        return out
    }

    /**
     * The share of [span] covered by speech frames. `flag(j)` is the flag of frame `j` for
     * `firstFrame <= j < endFrame`; other frames (not yet classified, or a partial last
     * frame) count as non-speech.
     */
    fun speechFraction(
        flag: (Long) -> Boolean,
        firstFrame: Long,
        endFrame: Long,
        frameLength: Int,
        span: Span
    ): Double {
        val s = span.start
        val e = span.end
        if (e <= s) return 0.0
        val lo = Math.max(s / frameLength, firstFrame)
        val hi = Math.min((e + frameLength - 1) / frameLength, endFrame)
        if (hi <= lo) return 0.0
        var speech = 0L
        for (f in lo until hi) {
            if (flag(f)) {
                val overlap = Math.min((f + 1) * frameLength, e) - Math.max(f * frameLength, s)
                speech += overlap
            }
        }
        return speech.toDouble() / (e - s).toDouble()
    }

    /** [speechFraction] over an array of flags whose first element is frame [firstFrame]. */
    fun speechFraction(flags: BooleanArray, firstFrame: Long, frameLength: Int, span: Span): Double =
        speechFraction({ j -> flags[(j - firstFrame).toInt()] }, firstFrame, firstFrame + flags.size, frameLength, span)
}

/**
 * The tail of an unbounded float signal, addressed by absolute sample index
 * (Python: `RollingBuffer`). Appending is amortised O(chunk); [discardBefore] frees what is
 * no longer needed, so memory stays bounded by what the caller keeps.
 */
class FloatRollingBuffer {
    private var data = FloatArray(1024)
    private var size = 0

    /** Absolute index of `data[0]`. */
    var offset = 0L
        private set

    /** Absolute index one past the last sample. */
    val end: Long get() = offset + size

    fun append(x: FloatArray) {
        if (size + x.size > data.size) data = data.copyOf(Math.max(2 * data.size, size + x.size))
        System.arraycopy(x, 0, data, size, x.size)
        size += x.size
    }

    /** A copy of samples `[start, end)` (absolute). */
    fun get(start: Long, end: Long): FloatArray {
        if (start < offset || end > this.end || end < start) {
            throw IndexOutOfBoundsException("samples [$start, $end) are not buffered (buffer holds [$offset, ${this.end}))")
        }
        return data.copyOfRange((start - offset).toInt(), (end - offset).toInt())
    }

    /** Forget samples before absolute [index] (compacting when it frees enough). */
    fun discardBefore(index: Long) {
        val drop = (Math.min(index, end) - offset).toInt()
        if (drop <= 0) return
        val keep = size - drop
        // Compact only when the dropped part is large enough to pay for the copy.
        if (drop >= keep / 2) {
            System.arraycopy(data, drop, data, 0, keep)
            size = keep
            offset += drop
        }
    }
}

/** [FloatRollingBuffer] for per-frame VAD flags. */
class BooleanRollingBuffer {
    private var data = BooleanArray(1024)
    private var size = 0

    var offset = 0L
        private set

    val end: Long get() = offset + size

    fun append(x: BooleanArray) {
        if (size + x.size > data.size) data = data.copyOf(Math.max(2 * data.size, size + x.size))
        System.arraycopy(x, 0, data, size, x.size)
        size += x.size
    }

    /** The flag at absolute index [index]; must be buffered. */
    operator fun get(index: Long): Boolean {
        if (index < offset || index >= end) {
            throw IndexOutOfBoundsException("flag $index is not buffered (buffer holds [$offset, $end))")
        }
        return data[(index - offset).toInt()]
    }

    fun discardBefore(index: Long) {
        val drop = (Math.min(index, end) - offset).toInt()
        if (drop <= 0) return
        val keep = size - drop
        if (drop >= keep / 2) {
            System.arraycopy(data, drop, data, 0, keep)
            size = keep
            offset += drop
        }
    }
}
