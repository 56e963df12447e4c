package com.edgeser.demo

import android.annotation.SuppressLint
import android.media.AudioFormat
import android.media.AudioRecord
import android.media.MediaRecorder

/**
 * Records 16-bit mono PCM at [sampleRate] on its own thread and hands each chunk (about
 * 100 ms) to [onChunk]. The caller must hold the RECORD_AUDIO permission.
 */
class MicRecorder(
    private val sampleRate: Int,
    private val onChunk: (ShortArray) -> Unit,
    private val onError: (String) -> Unit
) {
    @Volatile
    private var running = false
    private var thread: Thread? = null

    val isRunning: Boolean get() = running

    @SuppressLint("MissingPermission") // checked by MainActivity before start()
    fun start(): Boolean {
        val minBuffer = AudioRecord.getMinBufferSize(sampleRate, AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT)
        if (minBuffer <= 0) {
            onError("this device cannot record $sampleRate Hz mono PCM (AudioRecord.getMinBufferSize = $minBuffer)")
            return false
        }
        val chunk = sampleRate / 10
        // VOICE_RECOGNITION: tuned for speech recognisers (no automatic gain control on most devices).
        val record = AudioRecord(
            MediaRecorder.AudioSource.VOICE_RECOGNITION, sampleRate,
            AudioFormat.CHANNEL_IN_MONO, AudioFormat.ENCODING_PCM_16BIT, Math.max(minBuffer, chunk * 2 * 4)
        )
        if (record.state != AudioRecord.STATE_INITIALIZED) {
            record.release()
            onError("the microphone could not be opened")
            return false
        }
        running = true
        thread = Thread({
            val buffer = ShortArray(chunk)
            try {
                record.startRecording()
                while (running) {
                    val n = record.read(buffer, 0, buffer.size)
                    if (n > 0) {
                        onChunk(buffer.copyOf(n))
                    } else if (n < 0) {
                        onError("AudioRecord.read failed ($n)")
                        break
                    }
                }
            } finally {
                running = false
                try {
                    record.stop()
                } catch (e: IllegalStateException) {
                    // never started: nothing to stop
                }
                record.release()
            }
        }, "edge-ser-mic")
        thread!!.start()
        return true
    }

    /** Stop recording and wait for the last chunk to be delivered. */
    fun stop() {
        running = false
        thread?.join(2000)
        thread = null
    }
}
