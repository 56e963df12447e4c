#!/usr/bin/env bash
# Compile the core module and its unit tests with kotlinc and run them with JUnit 4, without
# Gradle or the Android SDK (what CI and a laptop without Android Studio can do).
#
# Needs: kotlinc (Debian's kotlin 1.3.31 is enough), a JDK, JUnit 4 and hamcrest:
#   apt-get install -y kotlin junit4
# Override jar locations with JUNIT_JAR / HAMCREST_JAR, the output folder with BUILD_DIR.
#
# Prints JUnit's summary ("OK (N tests)") and then a last line "N passed, M failed".
# Exit status: 0 when every test passed, 1 on test failures, 2 when it cannot compile or
# the tools are missing.
set -uo pipefail
cd "$(dirname "$0")"

JUNIT_JAR="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
HAMCREST_JAR="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
BUILD_DIR="${BUILD_DIR:-build/jvm-test}"

missing=()
command -v kotlinc >/dev/null 2>&1 || missing+=("kotlinc")
command -v java >/dev/null 2>&1 || missing+=("java")
[ -f "$JUNIT_JAR" ] || missing+=("$JUNIT_JAR")
[ -f "$HAMCREST_JAR" ] || missing+=("$HAMCREST_JAR")
if [ ${#missing[@]} -gt 0 ]; then
    echo "run_jvm_tests.sh: missing ${missing[*]}" >&2
    echo "install them with: apt-get install -y kotlin junit4   (Debian/Ubuntu; needs a JDK, e.g. openjdk-17-jdk-headless)" >&2
    echo "or set JUNIT_JAR and HAMCREST_JAR to the jar files" >&2
    exit 2
fi

# The Kotlin standard library that matches kotlinc (Debian: /usr/share/java/kotlin-stdlib.jar).
KOTLINC_REAL="$(readlink -f "$(command -v kotlinc)")"
STDLIB=""
for candidate in "${KOTLIN_STDLIB:-}" "$(dirname "$KOTLINC_REAL")/../lib/kotlin-stdlib.jar" /usr/share/java/kotlin-stdlib.jar; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then STDLIB="$candidate"; break; fi
done
if [ -z "$STDLIB" ]; then
    echo "run_jvm_tests.sh: cannot find kotlin-stdlib.jar next to kotlinc; set KOTLIN_STDLIB" >&2
    exit 2
fi

CLASSES="$BUILD_DIR/classes"
rm -rf "$CLASSES"
mkdir -p "$CLASSES"

SOURCES=$(find src/main/kotlin src/test/kotlin -name '*.kt' | sort)
echo "compiling $(echo "$SOURCES" | wc -l) Kotlin files with $(kotlinc -version 2>&1 | grep -o 'kotlinc-jvm [0-9.]*' || echo kotlinc) ..."
# One kotlinc run for main and test sources: the compiler's start-up dominates.
# shellcheck disable=SC2086
if ! kotlinc -nowarn -jvm-target 1.8 -cp "$JUNIT_JAR:$HAMCREST_JAR" -d "$CLASSES" $SOURCES 2>&1 \
        | grep -v -e 'Options -Xverify:none and -noverify were deprecated' ; then
    :
fi
if [ ! -f "$CLASSES/com/edgeser/core/EmotionPipeline.class" ]; then
    echo "run_jvm_tests.sh: compilation failed" >&2
    exit 2
fi

# Test classes: every *Test.kt under src/test/kotlin, named by package path.
TESTS=$(cd src/test/kotlin && find . -name '*Test.kt' | sed -e 's|^\./||' -e 's|\.kt$||' -e 's|/|.|g' | sort)

LOG="$BUILD_DIR/junit.log"
# shellcheck disable=SC2086
java -cp "$CLASSES:src/test/resources:$STDLIB:$JUNIT_JAR:$HAMCREST_JAR" org.junit.runner.JUnitCore $TESTS 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}

if grep -q '^OK (' "$LOG"; then
    total=$(sed -n 's/^OK (\([0-9]*\) tests\{0,1\})$/\1/p' "$LOG" | tail -1)
    failed=0
else
    total=$(sed -n 's/^Tests run: \([0-9]*\),.*/\1/p' "$LOG" | tail -1)
    failed=$(sed -n 's/^Tests run: [0-9]*,  Failures: \([0-9]*\).*/\1/p' "$LOG" | tail -1)
    total=${total:-0}
    failed=${failed:-0}
    if [ "$status" -eq 0 ]; then status=1; fi
    if [ "$failed" -eq 0 ]; then failed=1; fi # JUnit did not report: count the run as failed
fi
echo "$((total - failed)) passed, $failed failed"
if [ "$status" -ne 0 ]; then exit 1; fi
exit 0
