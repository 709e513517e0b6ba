# One image for every BotArmy process: the worker (default command) and the API (`botarmy serve`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --uid 10001 --user-group botarmy

WORKDIR /app

# Dependencies get their own layer, so a code change does not reinstall them; only pyproject.toml does.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself. /app keeps .bmad-core (the CLI and API find it in the working directory)
# and deploy/healthcheck.py.
COPY . .
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && mkdir -p .botarmy \
    && chown botarmy:botarmy .botarmy

USER botarmy

# For the default command: healthy while this container's worker polls its task queue.
# The api service overrides it with a check of GET /health.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["python", "deploy/healthcheck.py", "worker"]

CMD ["python", "-m", "worker"]
