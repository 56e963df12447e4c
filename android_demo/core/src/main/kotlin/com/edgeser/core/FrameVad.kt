package com.edgeser.core

import java.io.Closeable

/**
 * A frame-level voice activity detector: one decision per frame of 16-bit mono PCM.
 *
 * On Android this is WebRTC VAD (the same GMM C code as Python's `webrtcvad`), wrapped in
 * the app's `WebRtcFrameVad`; the JVM tests replay the decisions Python's webrtcvad made.
 * Implementations keep their own adaptive state: one instance serves one stream.
 */
interface FrameVad : Closeable {
    /** Whether [frame] (exactly one frame of `frameLength` samples) holds speech. */
    fun isSpeech(frame: ShortArray): Boolean

    override fun close() {}
}

/** Creates a [FrameVad] for each new stream. */
interface FrameVadFactory {
    /**
     * @param aggressiveness WebRTC VAD mode 0..3 ([VadOptions.aggressiveness]).
     * @param sampleRate 8000, 16000, 32000 or 48000.
     * @param frameLength samples per frame (10, 20 or 30 ms at [sampleRate]).
     */
    fun create(aggressiveness: Int, sampleRate: Int, frameLength: Int): FrameVad
}
