package com.edgeser.demo

import com.edgeser.core.FrameVad
import com.edgeser.core.FrameVadFactory
import com.konovalov.vad.webrtc.VadWebRTC
import com.konovalov.vad.webrtc.config.FrameSize
import com.konovalov.vad.webrtc.config.Mode
import com.konovalov.vad.webrtc.config.SampleRate

/**
 * WebRTC VAD (android-vad's JNI build of the WebRTC GMM VAD, the C code Python's webrtcvad
 * also wraps) as the core module's [FrameVad].
 *
 * android-vad's own smoothing is switched off (`speechDurationMs = 0`, `silenceDurationMs =
 * 0` make `isSpeech` return each frame's raw decision): the core [com.edgeser.core.SpeechDetector]
 * applies min speech, min silence, padding and the warm-up exactly as the Python runtime does.
 */
class WebRtcFrameVad(aggressiveness: Int, sampleRate: Int, frameLength: Int) : FrameVad {
    private val vad = VadWebRTC(
        sampleRate = SampleRate.values().firstOrNull { it.value == sampleRate }
            ?: throw IllegalArgumentException("WebRTC VAD does not take $sampleRate Hz"),
        frameSize = FrameSize.values().firstOrNull { it.value == frameLength }
            ?: throw IllegalArgumentException("WebRTC VAD does not take frames of $frameLength samples"),
        mode = Mode.values().firstOrNull { it.value == aggressiveness }
            ?: throw IllegalArgumentException("WebRTC VAD mode must be 0..3, got $aggressiveness"),
        speechDurationMs = 0,
        silenceDurationMs = 0
    )

    override fun isSpeech(frame: ShortArray): Boolean = vad.isSpeech(frame)

    override fun close() {
        vad.close()
    }

    object Factory : FrameVadFactory {
        override fun create(aggressiveness: Int, sampleRate: Int, frameLength: Int): FrameVad =
            WebRtcFrameVad(aggressiveness, sampleRate, frameLength)
    }
}
