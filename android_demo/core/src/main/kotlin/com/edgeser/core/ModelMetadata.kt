package com.edgeser.core

/**
 * The preprocessing the model was trained with (Python: `edge_ser.metadata.PreprocessingConfig`).
 * Applied to every window by [Preprocess.apply] unless the graph does it itself
 * ([ModelMetadata.inputKind] `raw_pcm`).
 */
data class PreprocessingConfig(
    val trimTopDb: Double = 20.0,
    val trimFrameLength: Int = 512,
    val preEmphasis: Double = 0.97,
    val peakNormalize: Boolean = true,
    val peak: Double = 1.0
) {
    init {
        if (trimFrameLength < 1) {
            throw ModelMetadataException("preprocessing.trim_frame_length must be >= 1, got $trimFrameLength")
        }
        if (!(preEmphasis >= 0.0 && preEmphasis < 1.0)) {
            throw ModelMetadataException("preprocessing.pre_emphasis must be in [0, 1), got $preEmphasis")
        }
        if (!(peak > 0.0 && peak <= 1.0)) {
            throw ModelMetadataException("preprocessing.peak must be in (0, 1], got $peak")
        }
    }

    companion object {
        fun fromJson(obj: JsonObject): PreprocessingConfig {
            val d = PreprocessingConfig()
            return PreprocessingConfig(
                trimTopDb = if (obj.has("trim_top_db")) obj.double("trim_top_db") else d.trimTopDb,
                trimFrameLength = if (obj.has("trim_frame_length")) obj.int("trim_frame_length") else d.trimFrameLength,
                preEmphasis = if (obj.has("pre_emphasis")) obj.double("pre_emphasis") else d.preEmphasis,
                peakNormalize = if (obj.has("peak_normalize")) obj.boolean("peak_normalize") else d.peakNormalize,
                peak = if (obj.has("peak")) obj.double("peak") else d.peak
            )
        }
    }
}

/**
 * What the app needs to know about a model (Python: `edge_ser.metadata.ModelMetadata`).
 *
 * The exporter embeds it in every `.onnx`/`.ort` file as the custom metadata entry
 * [METADATA_KEY]; ONNX Runtime for Android exposes it through
 * `OrtSession.getMetadata().getCustomMetadata()`. Nothing here is hard-coded in the app.
 */
data class ModelMetadata(
    val labels: List<String>,
    val sampleRate: Int = 16000,
    val maxWindowS: Double = 8.0,
    val minInputSamples: Int = 400,
    val inputName: String = "input_values",
    val outputName: String = "probabilities",
    val logitsName: String? = "logits",
    val inputKind: String = INPUT_PREPROCESSED,
    val preprocessing: PreprocessingConfig = PreprocessingConfig(),
    val quantization: String = "none",
    val formatVersion: Int = METADATA_VERSION
) {
    init {
        if (labels.size < 2 || labels.toSet().size != labels.size || labels.any { it.isEmpty() }) {
            throw ModelMetadataException("metadata labels must be at least 2 distinct non-empty strings, got $labels")
        }
        if (sampleRate !in SpeechDetector.VAD_SAMPLE_RATES) {
            throw ModelMetadataException(
                "metadata sample_rate must be 8000, 16000, 32000 or 48000 Hz (webrtcvad rates), got $sampleRate"
            )
        }
        if (!(maxWindowS >= 0.5 && maxWindowS <= 60.0)) {
            throw ModelMetadataException("metadata max_window_s must be 0.5 to 60 s, got $maxWindowS")
        }
        if (inputKind != INPUT_PREPROCESSED && inputKind != INPUT_RAW_PCM) {
            throw ModelMetadataException("metadata input_kind must be 'preprocessed' or 'raw_pcm', got '$inputKind'")
        }
        if (formatVersion > METADATA_VERSION) {
            throw ModelMetadataException(
                "metadata format_version $formatVersion is newer than this app understands ($METADATA_VERSION); update the app"
            )
        }
    }

    /** True when the graph does the preprocessing itself (the app-friendly `model_raw` variant). */
    val isRawPcm: Boolean get() = inputKind == INPUT_RAW_PCM

    companion object {
        const val METADATA_KEY = "edge_ser"
        const val METADATA_VERSION = 1
        const val INPUT_PREPROCESSED = "preprocessed"
        const val INPUT_RAW_PCM = "raw_pcm"

        /** Parse the JSON the exporter writes (`edge_ser.json` or the embedded entry); unknown keys are ignored. */
        fun fromJson(text: String, source: String = "metadata"): ModelMetadata {
            val obj = try {
                JsonObject.parse(text, source)
            } catch (e: IllegalArgumentException) {
                throw ModelMetadataException("$source is not valid JSON: ${e.message}", e)
            }
            return fromJson(obj, source)
        }

        fun fromJson(obj: JsonObject, source: String = "metadata"): ModelMetadata {
            if (!obj.has("labels")) throw ModelMetadataException("$source has no 'labels'")
            try {
                val d = ModelMetadata(listOf("a", "b"))
                return ModelMetadata(
                    labels = obj.strings("labels"),
                    sampleRate = if (obj.has("sample_rate")) obj.int("sample_rate") else d.sampleRate,
                    maxWindowS = if (obj.has("max_window_s")) obj.double("max_window_s") else d.maxWindowS,
                    minInputSamples = if (obj.has("min_input_samples")) obj.int("min_input_samples") else d.minInputSamples,
                    inputName = if (obj.has("input_name")) obj.string("input_name") else d.inputName,
                    outputName = if (obj.has("output_name")) obj.string("output_name") else d.outputName,
                    logitsName = if (obj.has("logits_name")) obj.stringOrNull("logits_name") else d.logitsName,
                    inputKind = if (obj.has("input_kind")) obj.string("input_kind") else d.inputKind,
                    preprocessing = if (obj.has("preprocessing")) PreprocessingConfig.fromJson(obj.obj("preprocessing"))
                    else PreprocessingConfig(),
                    quantization = if (obj.has("quantization")) obj.string("quantization") else d.quantization,
                    formatVersion = if (obj.has("format_version")) obj.int("format_version") else d.formatVersion
                )
            } catch (e: IllegalArgumentException) {
                throw ModelMetadataException("invalid metadata in $source: ${e.message}", e)
            }
        }
    }
}
