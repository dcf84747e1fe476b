# The README's two commands. Each first runs the idempotent set-up (Debian packages,
# ONNX Runtime from PyPI, models by sha256), which takes well under a second when done.

.PHONY: demo test setup

# Runs vigia on configs/demo.toml: two recorded videos and a plate-photo slideshow served as
# RTSP cameras, analysed, published to the embedded MQTT broker; prints the web console's
# address, then each acknowledged event. Ctrl-C drains and exits.
demo: setup
	cargo run --release --locked -- run --config configs/demo.toml --print-events

# Format, lints and every test (unit, real GStreamer/ONNX Runtime/mosquitto integration, the
# web console in headless Chromium). The set-up with --tests also installs the test tools.
test:
	./deploy/setup.sh --tests
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	cargo test --locked --workspace

setup:
	./deploy/setup.sh
