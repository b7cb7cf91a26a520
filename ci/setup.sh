# Sourced by ci/test.sh: installs, idempotently, what the tests need that a
# fresh machine lacks. Nothing here is needed to build or to profile.

# Headless Chromium for the HTML report's browser test.
if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing chromium (Debian package) for the HTML browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "!! could not install chromium; the browser test will fail"
fi

# A virtualenv with Django for the given minor (created once, cached in
# .venvs/django-pyX.Y, where tests/django.rs looks for it). The runner
# serves the pyinstrument package itself, so only Django is installed.
prepare_django_venv() {
    local minor="$1"
    PYINSTRUMENT_DJANGO_ONLY=1 "$repo/ci/django_env.sh" "$minor" >>"$log_dir/django-env-$minor.log" 2>&1 \
        || echo "   (no Django virtualenv for $minor: see $log_dir/django-env-$minor.log)"
}
