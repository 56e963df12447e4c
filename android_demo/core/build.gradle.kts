// Platform-independent signal path (VAD regions, windowing, preprocessing, aggregation,
// streaming pipeline, WAV reader): plain Kotlin/JVM, no Android imports, so it is unit-tested
// on any JVM. Without Gradle: ./run_jvm_tests.sh (kotlinc + JUnit 4).
plugins {
    id("org.jetbrains.kotlin.jvm")
}

java {
    sourceCompatibility = JavaVersion.VERSION_1_8
    targetCompatibility = JavaVersion.VERSION_1_8
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_1_8)
    }
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}
