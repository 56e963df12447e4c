package com.edgeser.core

/**
 * A speech region being built, in samples at the detector's rate: `[start, end)`.
 * [end] only grows while the region is active.
 */
class Region(val start: Long, var end: Long) {
    override fun toString(): String = "Region($start, $end)"
}

/**
 * Incremental VAD segmentation: a line-by-line port of `edge_ser/vad.py` (`SpeechDetector`).
 *
 * Regions, in samples:
 * 1. a *raw* region opens at a speech frame and closes once `minSilenceMs` of non-speech
 *    frames follow its last speech frame; it spans its first to its last speech frame;
 * 2. a raw region with fewer than `minSpeechMs` of speech frames is noise and is dropped;
 * 3. each kept region is padded by `speechPadMs` on both sides (clipped to the audio);
 *    padded regions that touch or overlap are merged.
 *
 * The region being built is [active]: its start is final as soon as it exists, its end only
 * grows. WebRTC VAD first hears the opening [PRIME_MS] of the audio (decisions discarded) so
 * that it has learnt the background noise, then classifies from the start.
 *
 * All state lives here, so feeding the same samples in any chunking gives the same frames,
 * flags and regions.
 *
 * @param vadFactory creates the frame VAD; may be null only when VAD is disabled.
 */
class SpeechDetector(val options: VadOptions, val sampleRate: Int, vadFactory: FrameVadFactory?) {
    private class Raw(val first: Long, var last: Long) {
        var voiced = 0 // speech frames so far
        var attached = false // merged into the active region (it passed minSpeechMs)
    }

    val frameLength: Int
    val pad: Long
    private val minSilenceFrames: Int
    private val minVoicedFrames: Int
    private val vad: FrameVad?
    private val primeFrames: Int
    private var primed: Boolean
    private var rest = ShortArray(0)
    private var raw: Raw? = null

    /** Frames classified so far. */
    var framesDone = 0L
        private set

    /** The region being built, if any. Without VAD: one region from 0 whose end is set at [finish]. */
    var active: Region? = null
        private set

    init {
        if (sampleRate !in VAD_SAMPLE_RATES) {
            throw UnsupportedAudioException("webrtcvad needs 8000, 16000, 32000 or 48000 Hz audio, got $sampleRate Hz")
        }
        frameLength = sampleRate * options.frameMs / 1000
        pad = (sampleRate * options.speechPadMs / 1000).toLong()
        minSilenceFrames = Math.max(1, ceilDiv(options.minSilenceMs, options.frameMs))
        minVoicedFrames = ceilDiv(options.minSpeechMs, options.frameMs)
        vad = if (options.enabled) {
            (vadFactory ?: throw OptionsException("VAD is enabled but no FrameVadFactory was given"))
                .create(options.aggressiveness, sampleRate, frameLength)
        } else {
            null
        }
        primeFrames = ceilDiv(PRIME_MS, options.frameMs)
        primed = vad == null
        if (!options.enabled) active = Region(0, UNBOUNDED)
    }

    /** Samples classified so far (whole frames). */
    val position: Long get() = framesDone * frameLength

    /** The earliest sample a region other than [active] can still start at. */
    fun earliestNewStart(): Long {
        var m = position - pad
        val r = raw
        if (r != null && !r.attached) m = Math.min(m, paddedStart(r))
        return Math.max(0L, m)
    }

    /** The flags of newly classified frames and the regions finalised by them. */
    class Update(val flags: BooleanArray, val done: List<Region>)

    /** Classify the whole frames now available. */
    fun push(x: FloatArray): Update {
        val pcm = concat(rest, toPcm16(x))
        val n = frameLength
        if (!primed) {
            if (pcm.size < primeFrames * n) {
                rest = pcm
                return Update(BooleanArray(0), emptyList())
            }
            prime(pcm)
        }
        val count = pcm.size / n
        val flags = BooleanArray(count) { true }
        val done = ArrayList<Region>()
        for (i in 0 until count) {
            val v = vad
            if (v != null) {
                // Frames under the energy floor are silence and are not shown to the VAD,
                // whose noise estimate would otherwise adapt to them (Python: same).
                flags[i] = aboveFloor(pcm, i * n, n) && v.isSpeech(pcm.copyOfRange(i * n, (i + 1) * n))
                step(flags[i], done)
            } else {
                framesDone++
            }
        }
        rest = pcm.copyOfRange(count * n, pcm.size)
        return Update(flags, done)
    }

    private val floorVar: Double? = options.energyFloorDbfs?.let {
        val level = 32768.0 * Math.pow(10.0, it / 20.0)
        level * level
    }

    /** Is the frame's AC energy (its mean removed) at or above the energy floor? */
    private fun aboveFloor(pcm: ShortArray, from: Int, n: Int): Boolean {
        val limit = floorVar ?: return true
        var mean = 0.0
        for (k in from until from + n) mean += pcm[k].toDouble()
        mean /= n
        var sum = 0.0
        for (k in from until from + n) {
            val d = pcm[k].toDouble() - mean
            sum += d * d
        }
        return sum / n >= limit
    }

    /** End of audio after [total] samples: classify what is held, finalise, clip. */
    fun finish(total: Long): Update {
        var flags = BooleanArray(0)
        val done = ArrayList<Region>()
        if (!primed) { // audio shorter than the priming span
            prime(rest)
            val u = push(FloatArray(0))
            flags = u.flags
            done.addAll(u.done)
        }
        raw = null // an open raw region that never reached minSpeechMs is noise
        val a = active
        if (a != null) {
            a.end = Math.min(a.end, total)
            finalizeActive(done)
        }
        return Update(flags, done)
    }

    /** Release the frame VAD. */
    fun close() {
        vad?.close()
    }

    private fun prime(pcm: ShortArray) {
        // WebRTC VAD adapts its noise estimate over its first frames and meanwhile flags any
        // background noise as speech; it first hears the audio's own opening (results
        // discarded), then classifies from the start.
        val n = frameLength
        val v = vad
        if (v != null) {
            val frames = Math.min(primeFrames, pcm.size / n)
            for (i in 0 until frames) v.isSpeech(pcm.copyOfRange(i * n, (i + 1) * n))
        }
        primed = true
    }

    // -- state machine ----------------------------------------------------------------------

    private fun step(speech: Boolean, done: MutableList<Region>) {
        val i = framesDone
        framesDone++
        var r = raw
        if (speech) {
            if (r == null) {
                r = Raw(i, i)
                raw = r
            }
            r.last = i
            r.voiced++
        } else if (r != null && i - r.last >= minSilenceFrames) {
            r = null // closed; if it was kept it already lives in `active`
            raw = null
        }
        if (r != null && r.voiced >= minVoicedFrames) attach(r, done)
        maybeFinalize(done)
    }

    private fun paddedStart(r: Raw): Long = Math.max(0L, r.first * frameLength - pad)

    private fun attach(r: Raw, done: MutableList<Region>) {
        val end = (r.last + 1) * frameLength + pad
        val a = active
        if (r.attached || (a != null && paddedStart(r) <= a.end)) {
            val act = a ?: throw IllegalStateException("an attached raw region without an active region")
            act.end = Math.max(act.end, end)
        } else {
            finalizeActive(done)
            active = Region(paddedStart(r), end)
        }
        r.attached = true
    }

    private fun maybeFinalize(done: MutableList<Region>) {
        val a = active ?: return
        val r = raw
        if (r != null && (r.attached || paddedStart(r) <= a.end)) return // may still extend it
        // Any later region starts at or after position - pad: merging is impossible.
        if (position - pad > a.end) finalizeActive(done)
    }

    private fun finalizeActive(done: MutableList<Region>) {
        val a = active
        if (a != null && a.end > a.start) done.add(a)
        active = null
    }

    companion object {
        val VAD_SAMPLE_RATES = intArrayOf(8000, 16000, 32000, 48000)

        /** WebRTC VAD warm-up on the audio's opening (see [prime]). */
        const val PRIME_MS = 200

        private const val UNBOUNDED = 1L shl 62

        private fun ceilDiv(a: Int, b: Int): Int = (a + b - 1) / b

        private fun concat(a: ShortArray, b: ShortArray): ShortArray {
            if (a.isEmpty()) return b
            val out = ShortArray(a.size + b.size)
            System.arraycopy(a, 0, out, 0, a.size)
            System.arraycopy(b, 0, out, a.size, b.size)
            return out
        }

        /**
         * Float samples to PCM16 as the Python runtime does:
         * `(clip(x, -1, 1) * 32767).astype(int16)`, a float32 product truncated toward zero.
         */
        fun toPcm16(x: FloatArray): ShortArray {
            val out = ShortArray(x.size)
            for (i in x.indices) {
                val v = x[i]
                val c = if (v > 1.0f) 1.0f else if (v < -1.0f) -1.0f else v
                val scaled: Float = c * 32767.0f
                out[i] = scaled.toInt().toShort()
            }
            return out
        }
    }
}
