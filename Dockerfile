# One image for every Linli service; the command chooses which: `services.registry`,
# `services.tasks`, `services.matching`, `services.identity`, `services.console` (the staff
# console, HTTP) (or `services.cli.main` for the linli command).
#
#   docker build -t linli:dev .
#   docker run --rm linli:dev services.registry

FROM python:3.11-slim AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
# The locked dependencies with the dev group (grpcio-tools generates the protobuf code)...
RUN uv sync --frozen --no-install-project
COPY protos protos
COPY tools/gen_protos.py tools/gen_protos.py
COPY services services
RUN /opt/venv/bin/python tools/gen_protos.py && uv build --wheel --out-dir /dist
# ...then the runtime set only, and the project's wheel (services, generated code, migrations).
RUN rm -rf /opt/venv && uv sync --frozen --no-dev --no-install-project \
    && uv pip install --python /opt/venv/bin/python --no-deps /dist/*.whl

FROM python:3.11-slim
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin linli
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LINLI_GRPC_HOST=0.0.0.0
USER 10001
EXPOSE 50051 50052 50053 50054 50064 8090
# The plaintext port answering only grpc.health.v1 (LINLI_HEALTH_PORT in the manifests).
EXPOSE 8081
ENTRYPOINT ["python", "-m"]
CMD ["services.registry"]
