def test_health_answers_ok_with_version(server):
    r = server.request("GET", "/health")
    assert r.status == 200
    assert r.json["status"] == "ok" and r.json["store"] == "ok" and r.json["version"]
    assert r.headers["request-id"]
