package com.edgeser.core

import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Base64
import java.util.zip.CRC32
import java.util.zip.Inflater

/** Tolerances of the parity tests (see README "What is verified"). */
object Tolerance {
    /** Per-window probabilities and aggregated scores vs Python (fake classifier, float32 output). */
    const val SCORE = 1e-5

    /** Preprocessed samples vs Python's `edge_ser.preprocess.preprocess`. */
    const val PREPROCESS = 1e-5

    /** Aggregation alone (same double inputs, only summation order differs). */
    const val AGGREGATION = 1e-9

    /** Seconds and speech ratios: the same double operations as Python, so exact in practice. */
    const val EXACT = 1e-12
}

/** Reads the golden vectors that android_demo/tools/make_golden.py wrote from the Python runtime. */
object Golden {
    fun bytes(path: String): ByteArray {
        val stream = Golden::class.java.getResourceAsStream("/golden/$path")
            ?: throw AssertionError(
                "golden resource /golden/$path not found on the classpath " +
                    "(src/test/resources must be on it; regenerate with android_demo/tools/make_golden.py)"
            )
        return stream.use { it.readBytes() }
    }

    fun json(path: String): JsonObject = JsonObject.parse(String(bytes(path), Charsets.UTF_8), path)

    val index: JsonObject by lazy { json("index.json") }

    val labels: List<String> get() = index.strings("labels")

    /** Every stream case, parsed once. */
    val streamCases: List<JsonObject> by lazy {
        index.strings("stream_cases").map { json("stream_$it.json") }
    }

    fun int16(audio: JsonObject): ShortArray {
        if (audio.string("encoding") != "zlib+base64 int16le") throw AssertionError("unknown audio encoding")
        val raw = inflate(Base64.getDecoder().decode(audio.string("data")))
        val out = ShortArray(raw.size / 2)
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(out)
        if (out.size != audio.int("samples")) throw AssertionError("audio holds ${out.size} samples, header says ${audio.int("samples")}")
        return out
    }

    /** The case's input as the Python runtime saw it (int16 / 32768). */
    fun audio(case: JsonObject): FloatArray {
        val pcm = int16(case.obj("audio"))
        return AudioConvert.pcm16ToFloat(pcm)
    }

    fun f32(b64: String): FloatArray {
        val raw = Base64.getDecoder().decode(b64)
        val out = FloatArray(raw.size / 4)
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out)
        return out
    }

    fun crc32(x: FloatArray): Long {
        val buf = ByteBuffer.allocate(x.size * 4).order(ByteOrder.LITTLE_ENDIAN)
        buf.asFloatBuffer().put(x)
        val crc = CRC32()
        crc.update(buf.array())
        return crc.value
    }

    fun crc32(x: ShortArray): Long {
        val buf = ByteBuffer.allocate(x.size * 2).order(ByteOrder.LITTLE_ENDIAN)
        buf.asShortBuffer().put(x)
        val crc = CRC32()
        crc.update(buf.array())
        return crc.value
    }

    fun metadata(case: JsonObject): ModelMetadata = ModelMetadata.fromJson(case.obj("metadata"), case.string("name"))

    fun options(case: JsonObject): PipelineOptions = PipelineOptions.fromJson(case.obj("options"))

    private fun inflate(data: ByteArray): ByteArray {
        val inflater = Inflater()
        inflater.setInput(data)
        val out = ByteArrayOutputStream()
        val buf = ByteArray(64 * 1024)
        while (!inflater.finished()) {
            val n = inflater.inflate(buf)
            if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) break
            out.write(buf, 0, n)
        }
        inflater.end()
        return out.toByteArray()
    }
}

/**
 * Replays the decisions Python's webrtcvad made for a case, and (when [crcs] are given)
 * checks that each frame it is asked about is bit-identical (CRC-32 of the PCM16 bytes) to the
 * frame webrtcvad saw, priming calls included.
 */
class ReplayVad(private val caseName: String, private val decisions: String, private val crcs: List<Long>?) : FrameVad {
    constructor(caseName: String, calls: JsonObject) :
        this(caseName, calls.string("decisions"), calls.list("crc32").map { (it as Double).toLong() })

    var calls = 0
        private set

    val expectedCalls: Int get() = decisions.length

    override fun isSpeech(frame: ShortArray): Boolean {
        if (calls >= decisions.length) {
            throw AssertionError("$caseName: VAD call ${calls + 1} but Python's webrtcvad was called ${decisions.length} times")
        }
        if (crcs != null) {
            val crc = Golden.crc32(frame)
            if (crc != crcs[calls]) {
                throw AssertionError("$caseName: VAD call $calls got a frame that differs from Python's (crc $crc != ${crcs[calls]})")
            }
        }
        return decisions[calls++] == '1'
    }
}

/** Hands out a [ReplayVad] per stream, checking the VAD parameters the pipeline asks for. */
class ReplayVadFactory(private val case: JsonObject) : FrameVadFactory {
    val created = ArrayList<ReplayVad>()

    override fun create(aggressiveness: Int, sampleRate: Int, frameLength: Int): FrameVad {
        val vad = case.obj("options").obj("vad")
        if (aggressiveness != vad.int("aggressiveness")) throw AssertionError("aggressiveness $aggressiveness")
        if (sampleRate != case.int("sample_rate")) throw AssertionError("sample rate $sampleRate")
        if (frameLength != case.int("frame_length")) throw AssertionError("frame length $frameLength")
        val v = ReplayVad(case.string("name"), case.obj("vad_calls"))
        created.add(v)
        return v
    }
}

/**
 * The fake model of make_golden.py (`fake_probabilities`): softmax of fixed linear functions
 * of the window's RMS, zero-crossing rate, length in seconds and peak, in double precision,
 * returned as float like an ONNX model's output.
 */
class FakeClassifier(private val sampleRate: Int, private val weights: List<DoubleArray>) : WindowClassifier {
    var calls = 0
        private set

    override fun classify(window: FloatArray): FloatArray {
        calls++
        val n = window.size
        var sumSq = 0.0
        var peak = 0.0
        var crossings = 0
        for (i in 0 until n) {
            val v = window[i].toDouble()
            sumSq += v * v
            if (Math.abs(v) > peak) peak = Math.abs(v)
            if (i > 0 && ((window[i] < 0) != (window[i - 1] < 0))) crossings++
        }
        val rms = if (n > 0) Math.sqrt(sumSq / n) else 0.0
        val zcr = if (n > 1) crossings.toDouble() / (n - 1) else 0.0
        val features = doubleArrayOf(rms, zcr, n.toDouble() / sampleRate, peak, 1.0)
        val logits = DoubleArray(weights.size) { k ->
            var acc = 0.0
            for (j in features.indices) acc += weights[k][j] * features[j]
            acc
        }
        var max = Double.NEGATIVE_INFINITY
        for (l in logits) if (l > max) max = l
        val e = DoubleArray(logits.size) { Math.exp(logits[it] - max) }
        var sum = 0.0
        for (v in e) sum += v
        return FloatArray(e.size) { (e[it] / sum).toFloat() }
    }

    companion object {
        fun fromIndex(sampleRate: Int): FakeClassifier {
            val rows = Golden.index.list("fake_weights").map { row ->
                @Suppress("UNCHECKED_CAST")
                (row as List<Double>).toDoubleArray()
            }
            return FakeClassifier(sampleRate, rows)
        }
    }
}
