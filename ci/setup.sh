# Sourced by ci/test.sh: installs, idempotently, what the tests need that a
# fresh machine lacks. Nothing here is needed to build or to profile.

# Headless Chromium for the HTML report's browser test.
if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing chromium (Debian package) for the HTML browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "!! could not install chromium; the browser test will fail"
fi

# A virtualenv with Django for the given Python (created once, cached in
# .venvs/). Prints its path, or nothing if it cannot be made.
django_venv_for() {
    local python="$1" minor="$2"
    if [ -x "$repo/ci/django_env.sh" ]; then
        "$repo/ci/django_env.sh" "$python" "$minor" 2>>"$log_dir/django-env-$minor.log" | tail -n 1
    fi
}
