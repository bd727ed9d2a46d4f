from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/thumbnail")
def thumbnail(width: int = 128):
    return {"width": width}
