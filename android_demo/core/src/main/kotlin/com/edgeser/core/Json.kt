package com.edgeser.core

/**
 * A small JSON reader, so the core module needs no library (org.json is Android-only).
 *
 * Objects become `Map<String, Any?>` (insertion-ordered), arrays `List<Any?>`, numbers
 * `Double` (Python's `json` writes floats with round-trip precision, so no digit is lost),
 * strings `String`, `true`/`false` `Boolean`, `null` null. Used for the model metadata
 * embedded in `.ort` files and for the golden test vectors.
 */
object Json {
    /** Parse one JSON document; throws [IllegalArgumentException] with the offset on bad input. */
    fun parse(text: String): Any? {
        val p = Parser(text)
        p.skipSpace()
        val value = p.value()
        p.skipSpace()
        if (!p.atEnd()) throw p.error("trailing characters")
        return value
    }

    private class Parser(private val s: String) {
        private var i = 0

        fun atEnd(): Boolean = i >= s.length

        fun error(what: String): IllegalArgumentException =
            IllegalArgumentException("invalid JSON at offset $i: $what")

        fun skipSpace() {
            while (i < s.length && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++
        }

        fun value(): Any? {
            if (atEnd()) throw error("unexpected end")
            val c = s[i]
            return when {
                c == '{' -> obj()
                c == '[' -> array()
                c == '"' -> string()
                c == 't' -> literal("true", true)
                c == 'f' -> literal("false", false)
                c == 'n' -> literal("null", null)
                c == '-' || (c in '0'..'9') -> number()
                c == 'N' -> literal("NaN", Double.NaN)
                c == 'I' -> literal("Infinity", Double.POSITIVE_INFINITY)
                else -> throw error("unexpected character '$c'")
            }
        }

        private fun literal(word: String, result: Any?): Any? {
            if (!s.startsWith(word, i)) throw error("expected $word")
            i += word.length
            return result
        }

        private fun obj(): Map<String, Any?> {
            val out = LinkedHashMap<String, Any?>()
            i++ // {
            skipSpace()
            if (i < s.length && s[i] == '}') {
                i++
                return out
            }
            while (true) {
                skipSpace()
                if (atEnd() || s[i] != '"') throw error("expected a string key")
                val key = string()
                skipSpace()
                if (atEnd() || s[i] != ':') throw error("expected ':'")
                i++
                skipSpace()
                out[key] = value()
                skipSpace()
                if (atEnd()) throw error("unterminated object")
                if (s[i] == ',') {
                    i++
                } else if (s[i] == '}') {
                    i++
                    return out
                } else {
                    throw error("expected ',' or '}'")
                }
            }
        }

        private fun array(): List<Any?> {
            val out = ArrayList<Any?>()
            i++ // [
            skipSpace()
            if (i < s.length && s[i] == ']') {
                i++
                return out
            }
            while (true) {
                skipSpace()
                out.add(value())
                skipSpace()
                if (atEnd()) throw error("unterminated array")
                if (s[i] == ',') {
                    i++
                } else if (s[i] == ']') {
                    i++
                    return out
                } else {
                    throw error("expected ',' or ']'")
                }
            }
        }

        private fun string(): String {
            i++ // opening quote
            val sb = StringBuilder()
            while (true) {
                if (atEnd()) throw error("unterminated string")
                val c = s[i++]
                when (c) {
                    '"' -> return sb.toString()
                    '\\' -> {
                        if (atEnd()) throw error("unterminated escape")
                        val e = s[i++]
                        when (e) {
                            '"' -> sb.append('"')
                            '\\' -> sb.append('\\')
                            '/' -> sb.append('/')
                            'b' -> sb.append('\b')
                            'f' -> sb.append('\u000C')
                            'n' -> sb.append('\n')
                            'r' -> sb.append('\r')
                            't' -> sb.append('\t')
                            'u' -> {
                                if (i + 4 > s.length) throw error("short \\u escape")
                                val code = Integer.parseInt(s.substring(i, i + 4), 16)
                                sb.append(code.toChar())
                                i += 4
                            }
                            else -> throw error("bad escape '\\$e'")
                        }
                    }
                    else -> sb.append(c)
                }
            }
        }

        private fun number(): Double {
            val start = i
            if (s[i] == '-') {
                i++
                if (i < s.length && s[i] == 'I') {
                    literal("Infinity", null)
                    return Double.NEGATIVE_INFINITY
                }
            }
            while (i < s.length && (s[i] in '0'..'9' || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                    s[i] == '+' || s[i] == '-')) i++
            val text = s.substring(start, i)
            try {
                return text.toDouble()
            } catch (e: NumberFormatException) {
                throw error("bad number '$text'")
            }
        }
    }
}

/** Typed access to a parsed JSON object, with messages that name the missing or wrong key. */
class JsonObject(val map: Map<String, Any?>, private val what: String = "JSON object") {
    fun has(key: String): Boolean = map.containsKey(key)

    fun isNull(key: String): Boolean = map.containsKey(key) && map[key] == null

    private fun raw(key: String): Any? {
        if (!map.containsKey(key)) throw IllegalArgumentException("$what has no '$key'")
        return map[key]
    }

    fun string(key: String): String =
        raw(key) as? String ?: throw IllegalArgumentException("$what: '$key' must be a string")

    fun stringOrNull(key: String): String? = if (map[key] == null) null else string(key)

    fun double(key: String): Double =
        (raw(key) as? Double) ?: throw IllegalArgumentException("$what: '$key' must be a number")

    fun long(key: String): Long {
        val d = double(key)
        if (d != Math.rint(d)) throw IllegalArgumentException("$what: '$key' must be an integer, got $d")
        return d.toLong()
    }

    fun int(key: String): Int = long(key).toInt()

    fun boolean(key: String): Boolean =
        raw(key) as? Boolean ?: throw IllegalArgumentException("$what: '$key' must be true or false")

    fun obj(key: String): JsonObject {
        @Suppress("UNCHECKED_CAST")
        val m = raw(key) as? Map<String, Any?> ?: throw IllegalArgumentException("$what: '$key' must be an object")
        return JsonObject(m, "$what.$key")
    }

    fun list(key: String): List<Any?> =
        raw(key) as? List<Any?> ?: throw IllegalArgumentException("$what: '$key' must be an array")

    fun objects(key: String): List<JsonObject> = list(key).mapIndexed { idx, v ->
        @Suppress("UNCHECKED_CAST")
        val m = v as? Map<String, Any?> ?: throw IllegalArgumentException("$what.$key[$idx] must be an object")
        JsonObject(m, "$what.$key[$idx]")
    }

    fun doubles(key: String): DoubleArray {
        val l = list(key)
        return DoubleArray(l.size) { idx ->
            l[idx] as? Double ?: throw IllegalArgumentException("$what.$key[$idx] must be a number")
        }
    }

    fun strings(key: String): List<String> = list(key).mapIndexed { idx, v ->
        v as? String ?: throw IllegalArgumentException("$what.$key[$idx] must be a string")
    }

    companion object {
        /** Parse [text], which must hold a JSON object. */
        fun parse(text: String, what: String = "JSON object"): JsonObject {
            @Suppress("UNCHECKED_CAST")
            val m = Json.parse(text) as? Map<String, Any?> ?: throw IllegalArgumentException("$what must be a JSON object")
            return JsonObject(m, what)
        }
    }
}
