package com.edgeser.demo

import android.Manifest
import android.app.Activity
import android.content.Intent
import android.content.pm.PackageManager
import android.net.Uri
import android.os.Bundle
import android.util.Log
import android.widget.Button
import android.widget.ScrollView
import android.widget.TextView
import com.edgeser.core.Aggregation
import com.edgeser.core.ClassificationResult
import com.edgeser.core.EmotionPipeline
import com.edgeser.core.EmotionStream
import com.edgeser.core.PipelineOptions
import com.edgeser.core.Resampler
import com.edgeser.core.WindowResult
import java.io.FileNotFoundException
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Live emotion timeline from the microphone, or the timeline of a picked audio file.
 *
 * All model work runs on one background thread ([worker]), in order: the microphone thread
 * only hands it 100 ms chunks. The pipeline (VAD, 8-second windowing, aggregation) is the core
 * module's [EmotionPipeline], the same code that is unit-tested against the Python runtime.
 */
class MainActivity : Activity() {
    private lateinit var status: TextView
    private lateinit var recordButton: Button
    private lateinit var pickButton: Button
    private lateinit var overall: TextView
    private lateinit var timeline: TimelineView
    private lateinit var windowsText: TextView
    private lateinit var scroll: ScrollView

    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private var classifier: OrtWindowClassifier? = null
    private var pipeline: EmotionPipeline? = null

    private var stream: EmotionStream? = null // touched only on the worker thread
    private var recorder: MicRecorder? = null // touched only on the UI thread

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        status = findViewById(R.id.status)
        recordButton = findViewById(R.id.record)
        pickButton = findViewById(R.id.pick)
        overall = findViewById(R.id.overall)
        timeline = findViewById(R.id.timeline)
        windowsText = findViewById(R.id.windows)
        scroll = findViewById(R.id.scroll)
        recordButton.setOnClickListener { toggleRecording() }
        pickButton.setOnClickListener { pickFile() }
        worker.execute { loadModel() }
    }

    override fun onDestroy() {
        recorder?.stop()
        worker.execute {
            classifier?.close()
        }
        worker.shutdown()
        super.onDestroy()
    }

    // -- model ---------------------------------------------------------------------------------

    private fun loadModel() {
        try {
            val (name, bytes) = readModelAsset()
            val clf = OrtWindowClassifier.load(bytes, "assets/$name")
            val md = clf.metadata
            // Defaults of the Python runtime: webrtcvad mode 2, 30 ms frames, windows of the
            // model's max_window_s (8 s), duration-weighted aggregation.
            pipeline = EmotionPipeline(md, clf, PipelineOptions(), WebRtcFrameVad.Factory, clf.padsTrimmedInput)
            classifier = clf
            val kind = if (md.isRawPcm) "raw PCM in, preprocessing in the graph" else "preprocessing in the app"
            ui {
                status.text = "Model $name: ${md.labels.joinToString(", ")} · ${md.sampleRate} Hz · " +
                    "windows of ${md.maxWindowS} s · $kind · ${md.quantization}"
                recordButton.isEnabled = true
                pickButton.isEnabled = true
            }
        } catch (e: Exception) {
            Log.e(TAG, "cannot load the model", e)
            ui { status.text = "Cannot load the model: ${e.message}" }
        }
    }

    private fun readModelAsset(): Pair<String, ByteArray> {
        for (name in MODEL_ASSETS) {
            try {
                return Pair(name, assets.open(name).use { it.readBytes() })
            } catch (e: FileNotFoundException) {
                // try the next name
            }
        }
        throw FileNotFoundException(
            "no ${MODEL_ASSETS.joinToString(" or ")} in the app's assets: export the model with " +
                "`edge-ser export bundled --out DIR --ort` (or CHECKPOINT instead of bundled) " +
                "and copy DIR/model_raw.ort to app/src/main/assets/"
        )
    }

    // -- microphone ------------------------------------------------------------------------------

    private fun toggleRecording() {
        if (recorder?.isRunning == true) {
            stopRecording()
            return
        }
        if (checkSelfPermission(Manifest.permission.RECORD_AUDIO) != PackageManager.PERMISSION_GRANTED) {
            requestPermissions(arrayOf(Manifest.permission.RECORD_AUDIO), REQUEST_MIC)
            return
        }
        startRecording()
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        super.onRequestPermissionsResult(requestCode, permissions, grantResults)
        if (requestCode != REQUEST_MIC) return
        if (grantResults.isNotEmpty() && grantResults[0] == PackageManager.PERMISSION_GRANTED) {
            startRecording()
        } else {
            status.text = getString(R.string.mic_denied)
        }
    }

    private fun startRecording() {
        val p = pipeline ?: return
        val s = p.stream()
        worker.execute { stream = s }
        val rec = MicRecorder(
            p.metadata.sampleRate,
            onChunk = { chunk -> worker.execute { onMicChunk(s, chunk) } },
            onError = { message -> ui { status.text = "Microphone: $message" } }
        )
        if (!rec.start()) return
        recorder = rec
        recordButton.text = getString(R.string.stop)
        pickButton.isEnabled = false
        showTimeline(emptyList(), 0.0, null)
    }

    private fun stopRecording() {
        recorder?.stop()
        recorder = null
        recordButton.text = getString(R.string.record)
        pickButton.isEnabled = true
        worker.execute {
            val s = stream ?: return@execute
            stream = null
            val result = runCatching { s.finish() }
            ui {
                result.onSuccess { showResult(it) }.onFailure { status.text = "Error: ${it.message}" }
            }
        }
    }

    private fun onMicChunk(s: EmotionStream, chunk: ShortArray) {
        if (stream !== s) return // a chunk that arrived after Stop
        try {
            val completed = s.acceptPcm16(chunk)
            if (completed.isNotEmpty()) {
                val windows = s.windows
                val seconds = s.duration
                ui { showTimeline(windows, seconds, null) }
            }
        } catch (e: Exception) {
            Log.e(TAG, "pipeline error", e)
            stream = null
            ui {
                status.text = "Error: ${e.message}"
                if (recorder != null) stopRecording()
            }
        }
    }

    // -- files -----------------------------------------------------------------------------------

    private fun pickFile() {
        val intent = Intent(Intent.ACTION_OPEN_DOCUMENT)
            .addCategory(Intent.CATEGORY_OPENABLE)
            .setType("audio/*")
        @Suppress("DEPRECATION")
        startActivityForResult(intent, REQUEST_FILE)
    }

    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        @Suppress("DEPRECATION")
        super.onActivityResult(requestCode, resultCode, data)
        val uri = data?.data
        if (requestCode != REQUEST_FILE || resultCode != RESULT_OK || uri == null) return
        classifyFile(uri)
    }

    private fun classifyFile(uri: Uri) {
        val p = pipeline ?: return
        recordButton.isEnabled = false
        pickButton.isEnabled = false
        status.text = "Decoding ${uri.lastPathSegment}…"
        showTimeline(emptyList(), 0.0, null)
        worker.execute {
            try {
                val audio = AudioFileDecoder.decode(this, uri)
                val rate = p.metadata.sampleRate
                val x = Resampler.resample(audio.samples, audio.sampleRate, rate)
                val total = x.size.toDouble() / rate
                ui { status.text = "Classifying %.1f s (%d Hz, %d ch)…".format(audio.durationSeconds, audio.sampleRate, audio.channels) }
                // Fed in 5 s blocks like the Python runtime, showing windows as they complete.
                val s = p.stream()
                val block = 5 * rate
                var i = 0
                while (i < x.size) {
                    val end = Math.min(x.size, i + block)
                    if (s.acceptWaveform(x.copyOfRange(i, end)).isNotEmpty()) {
                        val windows = s.windows
                        ui { showTimeline(windows, total, null) }
                    }
                    i = end
                }
                val result = s.finish()
                ui { showResult(result) }
            } catch (e: Exception) {
                Log.e(TAG, "cannot classify $uri", e)
                ui { status.text = "Cannot classify the file: ${e.message}" }
            } finally {
                ui {
                    recordButton.isEnabled = true
                    pickButton.isEnabled = true
                }
            }
        }
    }

    // -- display ---------------------------------------------------------------------------------

    private fun showResult(result: ClassificationResult) {
        showTimeline(result.windows, result.duration, result)
        status.text = "Done: %.1f s, %.1f s of speech, %d windows, aggregation %s".format(
            result.duration, result.speechDuration, result.windows.size, result.aggregation.wireName
        )
    }

    /** The timeline, the window list and the aggregate (running, or the [finished] one when given). */
    private fun showTimeline(windows: List<WindowResult>, seconds: Double, finished: ClassificationResult?) {
        val p = pipeline ?: return
        val labels = p.labels
        val sorted = windows.sortedWith(compareBy<WindowResult>({ it.start }, { it.end }))
        timeline.show(sorted, labels, seconds)
        val agg = Aggregation.aggregate(sorted, labels, p.options.aggregation)
        val label = if (finished != null) finished.label else agg.label
        val scores = if (finished != null) finished.scores else agg.scores
        overall.text = if (label == null) {
            getString(R.string.no_speech)
        } else {
            val head = if (finished != null) "Overall" else "So far"
            val lines = labels.indices.joinToString("\n") { k ->
                "%-10s %-20s %.2f".format(labels[k], "#".repeat(Math.round(scores[k] * 20).toInt()), scores[k])
            }
            "$head: $label\n$lines"
        }
        windowsText.text = sorted.joinToString("\n") { w ->
            "%6.1f-%6.1f s  %-10s %.2f  speech %3.0f%%".format(w.start, w.end, w.label, w.confidence, w.speechRatio * 100)
        }
        scroll.post { scroll.fullScroll(ScrollView.FOCUS_DOWN) }
    }

    private fun ui(block: () -> Unit) {
        runOnUiThread {
            if (!isDestroyed) block()
        }
    }

    companion object {
        private const val TAG = "edge-ser"
        private const val REQUEST_MIC = 1
        private const val REQUEST_FILE = 2

        /** The app-friendly raw-PCM model first; a preprocessed-input model works too. */
        private val MODEL_ASSETS = listOf("model_raw.ort", "model.ort")
    }
}
