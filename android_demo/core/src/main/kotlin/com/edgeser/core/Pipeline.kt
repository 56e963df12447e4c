package com.edgeser.core

import java.util.concurrent.atomic.AtomicBoolean

/**
 * The model behind the pipeline: one window in, class probabilities out.
 *
 * On Android this is ONNX Runtime Mobile running the exported `.ort` model; the JVM tests use
 * a fixed function of window statistics. [classify] receives exactly the model input
 * ([EmotionPipeline.prepareInput]: raw PCM for a `raw_pcm` model, preprocessed otherwise,
 * zero-padded to `min_input_samples`) and returns one probability per label, in the order of
 * [ModelMetadata.labels].
 */
interface WindowClassifier {
    fun classify(window: FloatArray): FloatArray
}

/**
 * The signal path of `edge_ser.Classifier`: VAD, windowing, model, aggregation.
 *
 * @param metadata the model's metadata (labels, rate, window length, input kind).
 * @param classifier runs the model on one window.
 * @param options VAD, window and aggregation options.
 * @param vadFactory creates a frame VAD per stream; required unless VAD is disabled.
 * @param padsTrimmedInput false only for an old raw-PCM export that does not zero-pad after
 *   its in-graph silence trim: windows that the trim leaves shorter than `min_input_samples`
 *   are then skipped (Python: `Model.pads_trimmed_input`).
 */
class EmotionPipeline(
    val metadata: ModelMetadata,
    val classifier: WindowClassifier,
    val options: PipelineOptions = PipelineOptions(),
    val vadFactory: FrameVadFactory? = null,
    val padsTrimmedInput: Boolean = true
) {
    val plan: WindowPlan = WindowPlan.fromOptions(options.window, metadata.maxWindowS, metadata.sampleRate)

    init {
        if (options.vad.enabled && vadFactory == null) {
            throw OptionsException("VAD is enabled but no FrameVadFactory was given (or disable it in VadOptions)")
        }
    }

    val labels: List<String> get() = metadata.labels

    /** Start a stream for live audio at the model's rate ([ModelMetadata.sampleRate]). */
    fun stream(): EmotionStream = EmotionStream(this)

    /**
     * Classify a whole recording already at the model's rate. It is fed through a stream in
     * blocks, as the Python runtime does, so file and live results agree.
     */
    fun classify(samples: FloatArray, blockSamples: Int = 5 * metadata.sampleRate): ClassificationResult {
        require(blockSamples > 0) { "blockSamples must be positive, got $blockSamples" }
        val stream = stream()
        var i = 0
        while (i < samples.size) {
            val end = Math.min(samples.size, i + blockSamples)
            stream.acceptWaveform(samples.copyOfRange(i, end))
            i = end
        }
        return stream.finish()
    }

    /** Whether the model can score this window (Python: `Model.accepts`). */
    fun accepts(window: FloatArray): Boolean {
        val md = metadata
        if (window.size < md.minInputSamples) return false
        if (!md.isRawPcm || padsTrimmedInput) return true
        val pre = md.preprocessing
        val b = Preprocess.trimBounds(window, pre.trimTopDb, pre.trimFrameLength)
        return b[1] - b[0] >= md.minInputSamples
    }

    /** The model input for one window: preprocessed (unless `raw_pcm`), zero-padded to `min_input_samples`. */
    fun prepareInput(window: FloatArray): FloatArray {
        val md = metadata
        val x = if (md.isRawPcm) window else Preprocess.apply(window, md.preprocessing)
        return if (x.size < md.minInputSamples) x.copyOf(md.minInputSamples) else x
    }

    /** Probabilities for one window (double, sum 1): the classifier's output clipped at 0 and renormalised. */
    fun score(window: FloatArray): DoubleArray {
        val out = try {
            classifier.classify(prepareInput(window))
        } catch (e: EdgeSerException) {
            throw e
        } catch (e: Exception) {
            throw ModelException("inference failed: ${e.message}", e)
        }
        val p = DoubleArray(out.size) { Math.max(0.0, out[it].toDouble()) }
        var total = 0.0
        for (v in p) total += v
        if (p.size != labels.size || !(total > 0.0) || total.isInfinite()) {
            throw ModelException(
                "the model returned invalid probabilities (${out.size} values for ${labels.size} labels, sum $total)"
            )
        }
        // Renormalise: a quantised softmax can be off by a few ulps.
        for (i in p.indices) p[i] = p[i] / total
        return p
    }
}

/**
 * Classify audio fed in chunks of any size, e.g. from a microphone (Python: `edge_ser.Stream`).
 *
 * Feed samples at the model's rate with [acceptWaveform] or [acceptPcm16]; each call returns
 * the windows that chunk completed. [finish] ends the stream and returns the result for all
 * of it, equal to classifying the same audio as a file. Only the audio a future window may
 * still need is kept, so memory does not grow with the stream. Not thread-safe: use one
 * stream per source (concurrent calls throw instead of corrupting state).
 */
class EmotionStream internal constructor(private val pipeline: EmotionPipeline) {
    private val rate = pipeline.metadata.sampleRate
    private val plan = pipeline.plan
    private val vad = SpeechDetector(pipeline.options.vad, rate, pipeline.vadFactory)
    private val audio = FloatRollingBuffer()
    private val flags = BooleanRollingBuffer()
    private var regionStart: Long? = null // the active region whose windows we emit
    private var regionDone = 0 // its windows emitted so far
    private var inputSamples = 0L
    private val windowList = ArrayList<WindowResult>()
    private val regions = ArrayList<SpeechRegion>()
    private var finished = false
    private val busy = AtomicBoolean(false)

    /** Seconds of audio received so far. */
    val duration: Double get() = inputSamples.toDouble() / rate

    /** Seconds of audio held for windows still to come: bounded, not growing. */
    val bufferedSeconds: Double get() = (audio.end - audio.offset).toDouble() / rate

    /** All window results so far, in the order they were completed. */
    val windows: List<WindowResult> get() = ArrayList(windowList)

    /** Add float samples in [-1, 1] at the model's rate; return the windows this chunk completed. */
    fun acceptWaveform(samples: FloatArray): List<WindowResult> = exclusive {
        checkSamples(samples)
        inputSamples += samples.size
        advance(samples, false) // not kept: the buffer and the VAD copy what they need
    }

    /** Add 16-bit PCM (as AudioRecord delivers it); `count` samples from the start of [samples]. */
    fun acceptPcm16(samples: ShortArray, count: Int = samples.size): List<WindowResult> =
        acceptWaveform(AudioConvert.pcm16ToFloat(samples, count))

    /** End the stream: close the last region and aggregate all windows. */
    fun finish(): ClassificationResult {
        exclusive {
            try {
                advance(FloatArray(0), true)
            } finally {
                finished = true
                vad.close()
            }
        }
        val sorted = windowList.sortedWith(compareBy<WindowResult>({ it.start }, { it.end }))
        val agg = Aggregation.aggregate(sorted, pipeline.labels, pipeline.options.aggregation)
        var speech = 0.0
        for (r in regions) speech += r.duration
        return ClassificationResult(
            label = agg.label,
            labels = pipeline.labels,
            scores = agg.scores,
            duration = duration,
            windows = sorted,
            speechRegions = ArrayList(regions),
            speechDuration = speech,
            aggregation = pipeline.options.aggregation.method
        )
    }

    private inline fun <T> exclusive(block: () -> T): T {
        if (!busy.compareAndSet(false, true)) {
            throw IllegalStateException("this stream is in use by another thread; use one stream per thread")
        }
        try {
            if (finished) throw EdgeSerException("this stream is finished; start a new one with EmotionPipeline.stream()")
            return block()
        } finally {
            busy.set(false)
        }
    }

    private fun checkSamples(x: FloatArray) {
        var bad = 0
        var peak = 0.0f
        for (v in x) {
            if (v.isNaN() || v.isInfinite()) bad++ else if (Math.abs(v) > peak) peak = Math.abs(v)
        }
        if (bad > 0) {
            throw InvalidAudioException("audio contains $bad NaN or infinite sample(s); only finite values are accepted")
        }
        if (peak > AudioConvert.MAX_ABS_SAMPLE) {
            throw InvalidAudioException(
                "audio has samples of magnitude up to $peak; accepted: at most ${AudioConvert.MAX_ABS_SAMPLE} " +
                    "(float audio is normally within [-1, 1])"
            )
        }
    }

    // -- pipeline (a port of edge_ser/stream.py) ---------------------------------------------

    private fun advance(y: FloatArray, final: Boolean): List<WindowResult> {
        audio.append(y)
        val pushed = vad.push(y)
        flags.append(pushed.flags)
        val closed = ArrayList<Region>(pushed.done)
        if (final) {
            val fin = vad.finish(audio.end)
            flags.append(fin.flags)
            closed.addAll(fin.done)
        }
        val spans = ArrayList<Span>()
        for (region in closed) spans.addAll(close(region))
        if (!final) spans.addAll(emitFullWindows())
        val results = score(spans)
        discardOldAudio()
        return results
    }

    private fun close(region: Region): List<Span> {
        val ours = region.start == regionStart
        val spans = Windowing.closingWindows(region.start, region.end, plan, if (ours) regionDone else 0)
        if (ours) {
            regionStart = null
            regionDone = 0
        }
        regions.add(SpeechRegion(region.start, region.end, seconds(region.start), seconds(region.end)))
        return spans
    }

    private fun emitFullWindows(): List<Span> {
        val active = vad.active ?: return emptyList()
        if (active.start != regionStart) {
            regionStart = active.start
            regionDone = 0
        }
        // Only frames already classified: a window's speech ratio must not depend on chunking.
        val knownEnd = Math.min(active.end, vad.position)
        val spans = Windowing.fullWindows(active.start, knownEnd, plan, regionDone)
        regionDone += spans.size
        return spans
    }

    private fun score(spans: List<Span>): List<WindowResult> {
        val out = ArrayList<WindowResult>()
        val minSamples = pipeline.metadata.minInputSamples
        for (span in spans) {
            if (span.length < minSamples) continue // shorter than the model's input: skipped
            val x = audio.get(span.start, span.end)
            if (!pipeline.accepts(x)) continue
            val p = pipeline.score(x)
            out.add(
                WindowResult(
                    startSample = span.start,
                    endSample = span.end,
                    start = seconds(span.start),
                    end = seconds(span.end),
                    labels = pipeline.labels,
                    scores = p,
                    speechRatio = speechRatio(span)
                )
            )
        }
        windowList.addAll(out)
        return out
    }

    private fun speechRatio(span: Span): Double {
        if (!pipeline.options.vad.enabled) return 1.0
        val n = vad.frameLength
        val first = Math.max(span.start / n, flags.offset)
        return Windowing.speechFraction({ j -> flags[j] }, first, flags.end, n, span)
    }

    private fun seconds(samples: Long): Double = Math.min(samples.toDouble() / rate, duration)

    private fun discardOldAudio() {
        var keep = vad.earliestNewStart() - plan.minWindow
        val active = vad.active
        if (active != null) {
            keep = if (active.start == regionStart && regionDone > 0) {
                // Later windows of this region start at or after the last emitted one.
                Math.min(keep, active.start + (regionDone - 1).toLong() * plan.hop)
            } else {
                Math.min(keep, active.start - plan.minWindow)
            }
        }
        keep = Math.max(0L, keep)
        audio.discardBefore(keep)
        flags.discardBefore(keep / vad.frameLength)
    }
}
