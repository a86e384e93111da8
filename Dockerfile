FROM python:3.11-slim
WORKDIR /srv/vigremote
COPY pyproject.toml README.md ./
COPY vigremote ./vigremote
COPY web ./web
RUN pip install --no-cache-dir -e .
RUN useradd --system --home /data vig && mkdir -p /data && chown vig /data
USER vig
EXPOSE 8080
CMD ["vigremote", "serve", "--host", "0.0.0.0", "--port", "8080", "--data", "/data"]
