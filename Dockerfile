# sqlcompiler image: the CLI, used by the compose stack for migrations, the relay and serve.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sqlcompiler ./sqlcompiler
COPY alembic ./alembic
COPY templates ./templates
COPY examples ./examples
RUN pip install --no-cache-dir -e .
ENTRYPOINT ["sqlcompiler"]
CMD ["--help"]
