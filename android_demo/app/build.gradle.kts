plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

val ortVersion: String = providers.gradleProperty("edgeser.ortVersion").get()
val androidVadVersion: String = providers.gradleProperty("edgeser.androidVadVersion").get()

android {
    namespace = "com.edgeser.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "com.edgeser.demo"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = "17"
    }

    androidResources {
        // The .ort model is memory-mapped friendly: keep it uncompressed in the APK.
        noCompress += listOf("ort", "onnx")
    }
}

dependencies {
    implementation(project(":core"))
    implementation("com.microsoft.onnxruntime:onnxruntime-android:$ortVersion")
    implementation("com.github.gkonovalov.android-vad:webrtc:$androidVadVersion")
}
