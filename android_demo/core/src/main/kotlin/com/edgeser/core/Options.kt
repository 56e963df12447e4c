package com.edgeser.core

/*
 * Options, mirroring edge_ser/options.py: immutable, validated on construction, same
 * defaults and the same limits. `fromJson` reads the dict form (snake_case keys) that the
 * Python runtime writes with `dataclasses.asdict` and rejects unknown keys, as `coerce` does.
 */

private fun check(cond: Boolean, message: String) {
    if (!cond) throw OptionsException(message)
}

private fun checkKeys(obj: JsonObject, what: String, accepted: List<String>) {
    val unknown = obj.map.keys.filter { it !in accepted }.sorted()
    if (unknown.isNotEmpty()) {
        throw OptionsException(
            "$what: unknown option(s) ${unknown.joinToString(", ")}; accepted: ${accepted.sorted().joinToString(", ")}"
        )
    }
}

/**
 * Voice activity detection with WebRTC VAD (Python: `VadOptions`).
 *
 * @property enabled run VAD; when false the whole audio is one speech region.
 * @property aggressiveness WebRTC VAD mode, 0 (least aggressive) to 3 (most).
 * @property frameMs VAD frame length: 10, 20 or 30 ms.
 * @property minSpeechMs a region with less voiced audio than this is treated as noise.
 * @property minSilenceMs silence shorter than this does not end a region.
 * @property speechPadMs padding added on both sides of each region, clipped to the audio.
 * @property energyFloorDbfs frames whose RMS (mean removed) is below this many dB of full
 *   scale are silence and are not shown to the VAD; null turns the gate off.
 */
data class VadOptions(
    val enabled: Boolean = true,
    val aggressiveness: Int = 2,
    val frameMs: Int = 30,
    val minSpeechMs: Int = 90,
    val minSilenceMs: Int = 300,
    val speechPadMs: Int = 150,
    val energyFloorDbfs: Double? = -70.0
) {
    init {
        check(aggressiveness in 0..3, "VadOptions.aggressiveness must be 0, 1, 2 or 3, got $aggressiveness")
        check(frameMs == 10 || frameMs == 20 || frameMs == 30,
            "VadOptions.frame_ms must be 10, 20 or 30 (webrtcvad frames), got $frameMs")
        check(minSpeechMs in 0..60000, "VadOptions.min_speech_ms must be an integer from 0 to 60000 ms, got $minSpeechMs")
        check(minSilenceMs in 0..60000, "VadOptions.min_silence_ms must be an integer from 0 to 60000 ms, got $minSilenceMs")
        check(speechPadMs in 0..60000, "VadOptions.speech_pad_ms must be an integer from 0 to 60000 ms, got $speechPadMs")
        val floor = energyFloorDbfs
        check(floor == null || (floor >= -120.0 && floor <= 0.0),
            "VadOptions.energy_floor_dbfs must be a finite number from -120 to 0 or null, got $floor")
    }

    companion object {
        private val KEYS = listOf("enabled", "aggressiveness", "frame_ms", "min_speech_ms", "min_silence_ms", "speech_pad_ms",
            "energy_floor_dbfs")

        fun fromJson(obj: JsonObject): VadOptions {
            checkKeys(obj, "VadOptions", KEYS)
            val d = VadOptions()
            return VadOptions(
                enabled = if (obj.has("enabled")) obj.boolean("enabled") else d.enabled,
                aggressiveness = if (obj.has("aggressiveness")) obj.int("aggressiveness") else d.aggressiveness,
                frameMs = if (obj.has("frame_ms")) obj.int("frame_ms") else d.frameMs,
                minSpeechMs = if (obj.has("min_speech_ms")) obj.int("min_speech_ms") else d.minSpeechMs,
                minSilenceMs = if (obj.has("min_silence_ms")) obj.int("min_silence_ms") else d.minSilenceMs,
                speechPadMs = if (obj.has("speech_pad_ms")) obj.int("speech_pad_ms") else d.speechPadMs,
                energyFloorDbfs = when {
                    !obj.has("energy_floor_dbfs") -> d.energyFloorDbfs
                    obj.isNull("energy_floor_dbfs") -> null
                    else -> obj.double("energy_floor_dbfs")
                }
            )
        }
    }
}

/**
 * How speech regions become model windows (Python: `WindowOptions`; the policy is in
 * [Windowing]).
 *
 * @property windowS maximum window length; null takes the model's `max_window_s`.
 * @property overlapS overlap between consecutive windows of a long region.
 * @property minWindowS the shortest window sent to the model.
 */
data class WindowOptions(
    val windowS: Double? = null,
    val overlapS: Double = 0.0,
    val minWindowS: Double = 1.0
) {
    init {
        if (windowS != null) {
            check(windowS >= 0.5 && windowS <= 60.0, "WindowOptions.window_s must be between 0.5 and 60 seconds, got $windowS")
        }
        val limit = windowS ?: 60.0
        check(overlapS >= 0.0 && overlapS < limit / 2,
            "WindowOptions.overlap_s must be >= 0 and less than half the window, got $overlapS")
        check(minWindowS > 0.0 && minWindowS <= limit,
            "WindowOptions.min_window_s must be > 0 and at most the window, got $minWindowS")
    }

    companion object {
        private val KEYS = listOf("window_s", "overlap_s", "min_window_s")

        fun fromJson(obj: JsonObject): WindowOptions {
            checkKeys(obj, "WindowOptions", KEYS)
            val d = WindowOptions()
            return WindowOptions(
                windowS = if (obj.has("window_s") && !obj.isNull("window_s")) obj.double("window_s") else d.windowS,
                overlapS = if (obj.has("overlap_s")) obj.double("overlap_s") else d.overlapS,
                minWindowS = if (obj.has("min_window_s")) obj.double("min_window_s") else d.minWindowS
            )
        }
    }
}

/** The aggregation methods of `edge_ser/aggregation.py`, by their wire names. */
enum class AggregationMethod(val wireName: String) {
    DURATION("duration"),
    CONFIDENCE("confidence"),
    VOTE("vote"),
    MEAN("mean");

    companion object {
        fun fromName(name: String): AggregationMethod {
            for (m in values()) if (m.wireName == name) return m
            throw OptionsException(
                "AggregationOptions.method must be one of ${values().joinToString(", ") { it.wireName }}, got '$name'"
            )
        }
    }
}

/**
 * Temporal aggregation of per-window scores (Python: `AggregationOptions`).
 *
 * @property method see [AggregationMethod] and [Aggregation].
 * @property minSpeechRatio windows whose share of VAD speech is below this are left out of the
 *   aggregate (they stay on the timeline); if every window falls below it, all are used.
 */
data class AggregationOptions(
    val method: AggregationMethod = AggregationMethod.DURATION,
    val minSpeechRatio: Double = 0.3
) {
    init {
        check(minSpeechRatio >= 0.0 && minSpeechRatio <= 1.0,
            "AggregationOptions.min_speech_ratio must be in [0, 1], got $minSpeechRatio")
    }

    companion object {
        private val KEYS = listOf("method", "min_speech_ratio")

        fun fromJson(obj: JsonObject): AggregationOptions {
            checkKeys(obj, "AggregationOptions", KEYS)
            val d = AggregationOptions()
            return AggregationOptions(
                method = if (obj.has("method")) AggregationMethod.fromName(obj.string("method")) else d.method,
                minSpeechRatio = if (obj.has("min_speech_ratio")) obj.double("min_speech_ratio") else d.minSpeechRatio
            )
        }
    }
}

/**
 * The options of the signal path, grouped as in Python's `ClassifierOptions` (the session
 * group, ONNX Runtime threads and providers, belongs to the app's classifier instead).
 */
data class PipelineOptions(
    val vad: VadOptions = VadOptions(),
    val window: WindowOptions = WindowOptions(),
    val aggregation: AggregationOptions = AggregationOptions()
) {
    companion object {
        /** Read `{"vad": {...}, "window": {...}, "aggregation": {...}}`; missing groups take defaults. */
        fun fromJson(obj: JsonObject): PipelineOptions {
            checkKeys(obj, "PipelineOptions", listOf("vad", "window", "aggregation", "session"))
            return PipelineOptions(
                vad = if (obj.has("vad")) VadOptions.fromJson(obj.obj("vad")) else VadOptions(),
                window = if (obj.has("window")) WindowOptions.fromJson(obj.obj("window")) else WindowOptions(),
                aggregation = if (obj.has("aggregation")) AggregationOptions.fromJson(obj.obj("aggregation"))
                else AggregationOptions()
            )
        }
    }
}
