package com.edgeser.demo

import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtException
import ai.onnxruntime.OrtSession
import com.edgeser.core.ModelMetadata
import com.edgeser.core.ModelMetadataException
import com.edgeser.core.WindowClassifier
import java.io.Closeable
import java.nio.FloatBuffer

/**
 * Runs the exported model with ONNX Runtime Mobile, one window per call.
 *
 * The model's metadata (labels, rate, window length, input kind) is read from the entry
 * `edge_ser` that `edge-ser export` embeds in the `.ort` file, so nothing is hard-coded here.
 * With `model_raw.ort` (input `waveform`, `[1, samples]` raw 16 kHz PCM) the graph does the
 * preprocessing itself; with `model.ort` the core pipeline preprocesses each window first.
 */
class OrtWindowClassifier private constructor(
    private val env: OrtEnvironment,
    private val session: OrtSession,
    val metadata: ModelMetadata,
    val source: String
) : WindowClassifier, Closeable {

    /** False for an old raw-PCM export that does not zero-pad after its silence trim (see [load]). */
    var padsTrimmedInput: Boolean = true
        private set

    override fun classify(window: FloatArray): FloatArray {
        OnnxTensor.createTensor(env, FloatBuffer.wrap(window), longArrayOf(1, window.size.toLong())).use { input ->
            session.run(mapOf(metadata.inputName to input), setOf(metadata.outputName)).use { result ->
                @Suppress("UNCHECKED_CAST")
                val probabilities = result.get(0).value as Array<FloatArray>
                return probabilities[0]
            }
        }
    }

    override fun close() {
        session.close()
    }

    /**
     * Run the graph once on silence of `min_input_samples` (the shortest input the metadata
     * promises), and for raw-PCM graphs on an input the in-graph trim reduces to one sample,
     * as the Python runtime does when it loads a model.
     */
    private fun probe() {
        try {
            classify(FloatArray(metadata.minInputSamples))
        } catch (e: OrtException) {
            throw ModelMetadataException(
                "$source fails on an input of min_input_samples=${metadata.minInputSamples} samples: ${e.message}", e
            )
        }
        val pre = metadata.preprocessing
        if (!metadata.isRawPcm || pre.trimTopDb <= 0) return
        val frames = (metadata.minInputSamples + pre.trimFrameLength - 1) / pre.trimFrameLength
        val x = FloatArray(frames * pre.trimFrameLength + 1)
        x[x.size - 1] = 0.5f
        try {
            classify(x)
        } catch (e: OrtException) {
            padsTrimmedInput = false
        }
    }

    companion object {
        /**
         * Load a model from its bytes (an `.ort` or `.onnx` file).
         *
         * @throws ModelMetadataException when the model has no embedded metadata, or the metadata
         *   names an input or output the graph does not have.
         */
        fun load(bytes: ByteArray, source: String, threads: Int = 2): OrtWindowClassifier {
            val env = OrtEnvironment.getEnvironment()
            val options = OrtSession.SessionOptions()
            options.setIntraOpNumThreads(threads)
            val session = env.createSession(bytes, options)
            try {
                val json = session.metadata.customMetadata[ModelMetadata.METADATA_KEY]
                    ?: throw ModelMetadataException(
                        "$source has no embedded '${ModelMetadata.METADATA_KEY}' metadata; " +
                            "export the model with `edge-ser export CHECKPOINT --out DIR --ort`"
                    )
                val md = ModelMetadata.fromJson(json, "$source (embedded metadata)")
                if (md.inputName !in session.inputNames) {
                    throw ModelMetadataException(
                        "$source: metadata input_name '${md.inputName}' is not a graph input (graph inputs: ${session.inputNames})"
                    )
                }
                if (md.outputName !in session.outputNames) {
                    throw ModelMetadataException(
                        "$source: metadata output_name '${md.outputName}' is not a graph output (graph outputs: ${session.outputNames})"
                    )
                }
                val classifier = OrtWindowClassifier(env, session, md, source)
                classifier.probe()
                return classifier
            } catch (e: Exception) {
                session.close()
                throw e
            }
        }
    }
}
