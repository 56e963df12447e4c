// Versions assumed by this project (see README.md): Android Gradle Plugin 8.7, Gradle 8.9,
// Kotlin 2.1, JDK 17. None of this was built on the machine that wrote it (no Android SDK);
// the core module was compiled and tested there with kotlinc (see core/run_jvm_tests.sh).
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.1.21" apply false
    id("org.jetbrains.kotlin.jvm") version "2.1.21" apply false
}
