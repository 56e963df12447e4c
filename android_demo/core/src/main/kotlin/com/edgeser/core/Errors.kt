package com.edgeser.core

/**
 * The errors of the core module, mirroring `edge_ser/errors.py`: one base class, specific
 * subclasses, messages that say what was given and what is accepted.
 */
open class EdgeSerException(message: String, cause: Throwable? = null) : RuntimeException(message, cause)

/** An option is out of range or inconsistent (Python: `OptionsError`). */
class OptionsException(message: String) : EdgeSerException(message)

/** Model metadata is missing, invalid or disagrees with the model (Python: `ModelMetadataError`). */
class ModelMetadataException(message: String, cause: Throwable? = null) : EdgeSerException(message, cause)

/** The classifier failed or returned unusable probabilities (Python: `ModelError`). */
class ModelException(message: String, cause: Throwable? = null) : EdgeSerException(message, cause)

/** Audio samples are unusable: NaN, infinite or absurdly large (Python: `InvalidAudioError`). */
class InvalidAudioException(message: String) : EdgeSerException(message)

/** A file cannot be decoded as audio (Python: `AudioDecodeError`). */
class AudioDecodeException(message: String, cause: Throwable? = null) : EdgeSerException(message, cause)

/** The audio's rate or layout is not supported (Python: `UnsupportedAudioError`). */
class UnsupportedAudioException(message: String) : EdgeSerException(message)
