package com.edgeser.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** The JSON reader, ModelMetadata and options parsing (the formats the Python side writes). */
class JsonMetadataTest {
    @Test
    fun readsWhatThePythonExporterWrites() {
        val text = String(Golden.bytes("metadata_raw.json"), Charsets.UTF_8)
        val md = ModelMetadata.fromJson(text, "metadata_raw.json")
        assertEquals(Golden.labels, md.labels)
        assertEquals(16000, md.sampleRate)
        assertEquals(8.0, md.maxWindowS, 0.0)
        assertEquals(400, md.minInputSamples)
        assertEquals("waveform", md.inputName)
        assertEquals("probabilities", md.outputName)
        assertTrue(md.isRawPcm)
        assertEquals("static", md.quantization)
        assertEquals(PreprocessingConfig(), md.preprocessing)
    }

    @Test
    fun jsonValues() {
        @Suppress("UNCHECKED_CAST")
        val v = Json.parse(" {\"a\": [1, -2.5e-3, true, null], \"s\": \"x\\u00e9\\n\\\"\", \"o\": {}} ") as Map<String, Any?>
        assertEquals(listOf(1.0, -0.0025, true, null), v["a"])
        assertEquals("x\u00e9\n\"", v["s"])
        assertEquals(emptyMap<String, Any?>(), v["o"])
        for (bad in listOf("{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "{} x")) {
            try {
                Json.parse(bad)
                fail("parsed invalid JSON: $bad")
            } catch (e: IllegalArgumentException) {
                assertTrue(e.message!!.contains("invalid JSON"))
            }
        }
    }

    @Test
    fun metadataErrorsSayWhatIsWrong() {
        val cases = mapOf(
            "{\"sample_rate\": 16000}" to "no 'labels'",
            "{\"labels\": [\"a\"]}" to "at least 2 distinct",
            "{\"labels\": [\"a\", \"b\"], \"sample_rate\": 22050}" to "webrtcvad rates",
            "{\"labels\": [\"a\", \"b\"], \"input_kind\": \"mfcc\"}" to "input_kind",
            "{\"labels\": [\"a\", \"b\"], \"format_version\": 9}" to "newer",
            "{\"labels\": [\"a\", \"b\"], \"preprocessing\": {\"peak\": 2.0}}" to "preprocessing.peak",
            "not json" to "not valid JSON"
        )
        for ((text, fragment) in cases) {
            try {
                ModelMetadata.fromJson(text)
                fail("accepted $text")
            } catch (e: ModelMetadataException) {
                assertTrue("'${e.message}' should contain '$fragment'", e.message!!.contains(fragment))
            }
        }
        val md = ModelMetadata.fromJson("{\"labels\": [\"a\", \"b\"], \"logits_name\": null, \"extra\": {\"x\": 1}}")
        assertNull(md.logitsName)
        assertFalse(md.isRawPcm)
    }

    @Test
    fun optionsValidateLikePython() {
        val bad = listOf(
            "{\"vad\": {\"aggressiveness\": 4}}" to "aggressiveness",
            "{\"vad\": {\"frame_ms\": 25}}" to "frame_ms",
            "{\"vad\": {\"speed\": 1}}" to "unknown option(s) speed",
            "{\"window\": {\"overlap_s\": 5.0, \"window_s\": 8.0}}" to "overlap_s",
            "{\"window\": {\"min_window_s\": 0}}" to "min_window_s",
            "{\"aggregation\": {\"method\": \"median\"}}" to "duration, confidence, vote, mean",
            "{\"aggregation\": {\"min_speech_ratio\": 1.5}}" to "min_speech_ratio"
        )
        for ((text, fragment) in bad) {
            try {
                PipelineOptions.fromJson(JsonObject.parse(text))
                fail("accepted $text")
            } catch (e: OptionsException) {
                assertTrue("'${e.message}' should contain '$fragment'", e.message!!.contains(fragment))
            }
        }
        val o = PipelineOptions.fromJson(JsonObject.parse("{\"window\": {\"window_s\": null}, \"aggregation\": {\"method\": \"vote\"}}"))
        assertNull(o.window.windowS)
        assertEquals(AggregationMethod.VOTE, o.aggregation.method)
        assertEquals(PipelineOptions().vad, o.vad)
    }
}
