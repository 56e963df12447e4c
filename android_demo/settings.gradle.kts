pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
        // android-vad (WebRTC VAD for Android) is published on JitPack only.
        maven { url = uri("https://jitpack.io") }
    }
}

rootProject.name = "edge-ser-android-demo"
include(":core", ":app")
