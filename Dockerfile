# Loupe console. Configure with the env vars in the README (MLFLOW_TRACKING_URI, LOUPE_DATABASE_URL, ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOUPE_HOME=/var/lib/loupe

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY Home.py ./
COPY pages ./pages
COPY core ./core
COPY storage ./storage
COPY .streamlit/config.toml ./.streamlit/config.toml

RUN useradd --create-home --uid 10001 loupe && mkdir -p /var/lib/loupe && chown loupe /var/lib/loupe
USER 10001
VOLUME ["/var/lib/loupe"]
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]

# Bootstrap is idempotent: it migrates the prediction log and trains a first model only if the registry is empty.
CMD ["sh", "-c", "python -m core bootstrap && exec streamlit run Home.py --server.port 8501 --server.address 0.0.0.0"]
