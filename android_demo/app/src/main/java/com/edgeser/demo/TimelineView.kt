package com.edgeser.demo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.util.AttributeSet
import android.view.View
import com.edgeser.core.WindowResult

/**
 * The emotion timeline: one bar per model window, placed by its start and end time, coloured
 * by its top label, as tall as that label's probability; the label legend underneath.
 */
class TimelineView @JvmOverloads constructor(
    context: Context,
    attrs: AttributeSet? = null
) : View(context, attrs) {
    private var windows: List<WindowResult> = emptyList()
    private var labels: List<String> = emptyList()
    private var seconds = 0.0
    private val bar = Paint(Paint.ANTI_ALIAS_FLAG)
    private val axis = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        color = Color.GRAY
        strokeWidth = 2f
    }
    private val text = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        color = Color.DKGRAY
        textSize = 28f
    }

    /** Show [windows] on a time axis of [totalSeconds] (at least the last window's end). */
    fun show(windows: List<WindowResult>, labels: List<String>, totalSeconds: Double) {
        this.windows = windows
        this.labels = labels
        this.seconds = totalSeconds
        invalidate()
    }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        val legendHeight = text.textSize * 1.6f
        val w = width.toFloat()
        val h = height - legendHeight
        canvas.drawLine(0f, h, w, h, axis)
        var span = Math.max(seconds, 1.0)
        for (x in windows) span = Math.max(span, x.end)
        for (x in windows) {
            bar.color = colorOf(x.labelIndex)
            bar.alpha = 170 // overlapping windows stay visible
            val left = (x.start / span * w).toFloat()
            val right = Math.max(left + 2f, (x.end / span * w).toFloat())
            val top = h - (x.confidence * h).toFloat()
            canvas.drawRect(left, top, right, h, bar)
        }
        var lx = 0f
        for ((i, label) in labels.withIndex()) {
            bar.color = colorOf(i)
            bar.alpha = 255
            canvas.drawRect(lx, h + 8f, lx + 20f, h + 28f, bar)
            canvas.drawText(label, lx + 26f, h + 28f, text)
            lx += 40f + text.measureText(label)
        }
        canvas.drawText("%.0f s".format(span), w - text.measureText("%.0f s".format(span)), h - 6f, text)
    }

    companion object {
        private val PALETTE = intArrayOf(
            Color.rgb(214, 39, 40), Color.rgb(255, 170, 0), Color.rgb(120, 120, 120),
            Color.rgb(31, 119, 180), Color.rgb(44, 160, 44), Color.rgb(148, 103, 189),
            Color.rgb(140, 86, 75), Color.rgb(227, 119, 194)
        )

        fun colorOf(index: Int): Int = PALETTE[index % PALETTE.size]
    }
}
