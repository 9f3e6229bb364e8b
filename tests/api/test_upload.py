"""The legacy upload API: what twine sends, every refusal, and nothing changed by a refusal."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile

import pytest
from django.contrib.auth.models import Group

from pythonnest.api import upload as upload_api
from pythonnest.core import access, accounts, services, tokens, uploads
from pythonnest.core.journal import Action
from pythonnest.core.models import ApiToken, File, JournalEntry, Project, Release, Role
from pythonnest.core.projects import set_project_origin, set_project_private
from tests.support.builders import build_sdist, build_wheel
from tests.support.uploads import basic_auth, content_type, multipart, post_upload, upload_fields

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


@pytest.fixture(autouse=True)
def upload_temp_dir(tmp_path, settings):
    """Django spools uploads here; a refused upload must leave nothing in it."""
    directory = tmp_path / "upload-tmp"
    directory.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(directory)
    return directory


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password=PASSWORD)


@pytest.fixture
def as_alice(alice):
    return basic_auth("alice", PASSWORD)


@pytest.fixture
def as_bob(bob):
    return basic_auth("bob", PASSWORD)


@pytest.fixture
def dist(tmp_path):
    return tmp_path / "dist"


@pytest.fixture
def wheel(dist):
    return build_wheel(dist, "pn-upload", "1.0")


@pytest.fixture
def sdist(dist):
    return build_sdist(dist, "pn-upload", "1.0")


@pytest.fixture
def published(client, store, wheel, as_alice):
    """pn-upload 1.0 uploaded by alice, who owns it."""
    response = post_upload(client, wheel, auth=as_alice)
    assert response.status_code == 200, response.content
    return Project.objects.get(normalized_name="pn-upload")


def catalog_state(store, upload_temp_dir) -> dict:
    """Everything a refused upload must leave as it was."""
    return {
        "blobs": sorted(str(path.relative_to(store.root)) for path in store.root.rglob("*") if path.is_file()),
        "spooled": sorted(path.name for path in upload_temp_dir.iterdir()),
        "projects": list(Project.objects.order_by("pk").values()),
        "releases": list(Release.objects.order_by("pk").values()),
        "files": list(File.objects.order_by("pk").values()),
        "journal": list(JournalEntry.objects.values_list("serial", flat=True)),
        "roles": list(Role.objects.order_by("pk").values()),
    }


@pytest.fixture
def unchanged(store, upload_temp_dir):
    """Call after a refusal: asserts the catalog, blobs and spool are as they were before the test's request."""
    before = catalog_state(store, upload_temp_dir)

    def check():
        assert catalog_state(store, upload_temp_dir) == before

    return check


def assert_refused(response, status: int, reason: str) -> None:
    """A refusal twine prints: the status, the reason phrase and the body all say why."""
    assert response.status_code == status, response.content
    assert reason in response.reason_phrase
    assert reason in response.content.decode()


# -- uploads that work ----------------------------------------------------------


@pytest.mark.parametrize("url", ["/legacy/", "/legacy", "/setup/", "/setup", "/pypi", "/pypi/"])
def test_a_wheel_upload_is_one_journaled_change_and_makes_the_uploader_owner(client, store, wheel, as_alice, url):
    response = post_upload(client, wheel, auth=as_alice, url=url)

    assert response.status_code == 200, response.content
    file = File.objects.get()
    assert file.filename == wheel.name
    assert file.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert store.exists(file.sha256) and store.exists(file.metadata_sha256)
    entry = JournalEntry.objects.get()
    assert (entry.action, entry.filename, entry.source, entry.submitted_by) == (
        Action.ADD_FILE,
        wheel.name,
        "upload",
        "alice",
    )
    assert response["X-PyPI-Last-Serial"] == str(entry.serial)
    project = Project.objects.get()
    assert (project.name, project.origin, project.last_serial) == ("pn-upload", "local", entry.serial)
    assert access.project_roles(project) == [("Owner", "alice")]


def test_the_metadata_comes_from_the_file_not_the_form(client, store, dist, as_alice):
    wheel = build_wheel(dist, "pn-meta", "2.0", summary="the summary in METADATA", requires_dist=["six"])
    response = post_upload(client, wheel, auth=as_alice, summary="a summary only in the form", name="PN_Meta")
    assert response.status_code == 200, response.content
    release = Release.objects.get()
    assert (release.summary, release.requires_dist) == ("the summary in METADATA", ["six"])


def test_an_sdist_joins_the_release_of_the_wheel(client, published, sdist, as_alice):
    response = post_upload(client, sdist, auth=as_alice)
    assert response.status_code == 200, response.content
    assert sorted(File.objects.values_list("filename", "packagetype")) == [
        ("pn_upload-1.0-py3-none-any.whl", "bdist_wheel"),
        ("pn_upload-1.0.tar.gz", "sdist"),
    ]
    assert Release.objects.count() == 1
    assert JournalEntry.objects.count() == 2


def test_one_digest_is_enough(client, store, wheel, as_alice):
    response = post_upload(client, wheel, auth=as_alice, md5_digest=None, blake2_256_digest=None)
    assert response.status_code == 200, response.content


def test_an_api_token_uploads_and_its_use_is_recorded(client, store, wheel, alice):
    new = tokens.create_token(alice, description="ci")
    response = post_upload(client, wheel, auth=basic_auth("__token__", new.secret))
    assert response.status_code == 200, response.content
    assert JournalEntry.objects.get().submitted_by == "alice"
    assert ApiToken.objects.get().last_used is not None
    assert access.project_roles(Project.objects.get()) == [("Owner", "alice")]


def test_a_token_scoped_to_its_project_uploads_there(client, published, sdist, alice):
    new = tokens.create_token(alice, project=published)
    response = post_upload(client, sdist, auth=basic_auth("__token__", new.secret))
    assert response.status_code == 200, response.content


def test_a_maintainer_uploads(client, published, sdist, bob, as_bob):
    access.set_role(published, bob, "Maintainer")
    response = post_upload(client, sdist, auth=as_bob)
    assert response.status_code == 200, response.content
    assert access.project_roles(published) == [("Owner", "alice"), ("Maintainer", "bob")]


def test_an_owner_of_a_private_project_outside_its_group_still_uploads(client, published, sdist, as_alice):
    set_project_private(published, Group.objects.create(name="team"), source="test")
    response = post_upload(client, sdist, auth=as_alice)
    assert response.status_code == 200, response.content


# -- who may upload -------------------------------------------------------------


def test_no_credentials_is_401_with_a_challenge(client, wheel, unchanged):
    response = post_upload(client, wheel)
    assert_refused(response, 401, "Uploading needs a username and password")
    assert response["WWW-Authenticate"] == 'Basic realm="pythonnest"'
    unchanged()


@pytest.mark.parametrize(
    "auth",
    [
        basic_auth("alice", "wrong"),
        basic_auth("nobody", PASSWORD),
        basic_auth("__token__", "pynest-not-a-real-token"),
        basic_auth("__token__", "pypi-AgEIcHlwaS5vcmc"),
        {"HTTP_AUTHORIZATION": "Basic !!!not-base64"},
        {"HTTP_AUTHORIZATION": "Bearer abc"},
    ],
    ids=["wrong-password", "unknown-user", "unknown-token", "foreign-token", "malformed", "other-scheme"],
)
def test_refused_credentials_are_403_as_on_pypi(client, alice, wheel, unchanged, auth):
    response = post_upload(client, wheel, auth=auth)
    assert response.status_code == 403, response.content
    assert response.reason_phrase and response.reason_phrase in response.content.decode()
    unchanged()


def test_an_inactive_user_is_refused(client, alice, wheel, as_alice, unchanged):
    new = tokens.create_token(alice)
    alice.is_active = False
    alice.save()
    assert post_upload(client, wheel, auth=as_alice).status_code == 403
    assert post_upload(client, wheel, auth=basic_auth("__token__", new.secret)).status_code == 403
    unchanged()


def test_a_revoked_token_is_refused(client, alice, wheel, unchanged):
    new = tokens.create_token(alice)
    tokens.revoke_token(new.token)
    response = post_upload(client, wheel, auth=basic_auth("__token__", new.secret))
    assert_refused(response, 403, "unknown or revoked API token")
    unchanged()


def test_failed_logins_are_throttled_even_for_the_right_password(client, alice, wheel, as_alice, unchanged):
    for _ in range(accounts.LOGIN_FAILURE_LIMIT):
        assert post_upload(client, wheel, auth=basic_auth("alice", "wrong")).status_code == 403
    response = post_upload(client, wheel, auth=as_alice)
    assert_refused(response, 429, "Too many failed logins for 'alice'")
    assert 0 < int(response["Retry-After"]) <= accounts.LOGIN_FAILURE_WINDOW.total_seconds() + 1
    unchanged()
    # Another address is not held back by these failures.
    assert post_upload(client, wheel, auth=as_alice, remote_addr="10.0.0.2").status_code == 200


def test_a_success_clears_the_failures(client, alice, wheel, as_alice, dist):
    for _ in range(accounts.LOGIN_FAILURE_LIMIT - 1):
        post_upload(client, wheel, auth=basic_auth("alice", "wrong"))
    assert post_upload(client, wheel, auth=as_alice).status_code == 200
    for _ in range(accounts.LOGIN_FAILURE_LIMIT - 1):
        post_upload(client, wheel, auth=basic_auth("alice", "wrong"))
    assert post_upload(client, build_wheel(dist, "pn-upload", "2.0"), auth=as_alice).status_code == 200


def test_a_user_without_a_role_is_403(client, published, sdist, as_bob, unchanged):
    response = post_upload(client, sdist, auth=as_bob)
    assert_refused(response, 403, "The user 'bob' isn't allowed to upload to project 'pn-upload'")
    unchanged()


def test_a_token_scoped_to_another_project_is_403(client, published, dist, alice, unchanged):
    new = tokens.create_token(alice, project=published)
    other = build_wheel(dist, "pn-other", "1.0")
    response = post_upload(client, other, auth=basic_auth("__token__", new.secret))
    assert_refused(response, 403, "This API token is scoped to project 'pn-upload'; it cannot upload to 'pn-other'")
    unchanged()


def test_an_outsider_learns_nothing_more_of_a_private_project(client, published, sdist, as_bob):
    set_project_private(published, Group.objects.create(name="team"), source="test")
    response = post_upload(client, sdist, auth=as_bob)
    assert_refused(response, 403, "The user 'bob' isn't allowed to upload to project 'pn-upload'")
    assert File.objects.count() == 1


def test_uploading_to_a_mirrored_project_is_refused_until_made_local(client, store, dist, alice, as_alice):
    services.add_distribution_path(build_wheel(dist, "pn-mirrored", "1.0"), store=store, origin="mirrored")
    project = Project.objects.get(normalized_name="pn-mirrored")
    access.set_role(project, alice, "Owner")
    second = build_wheel(dist, "pn-mirrored", "2.0")

    response = post_upload(client, second, auth=as_alice)
    assert_refused(response, 403, "'pn-mirrored' is mirrored from upstream")
    assert "pythonnest-manage project origin pn-mirrored local" in response.content.decode()
    assert File.objects.count() == 1

    entry = set_project_origin(project, "local", source="test")
    assert (entry.action, entry.data) == (Action.SET_ORIGIN, {"origin": "local", "previous": "mirrored"})
    assert post_upload(client, second, auth=as_alice).status_code == 200


# -- bad input: a 4xx with a reason, and nothing changed ----------------------------


def test_an_existing_file_is_400_file_already_exists(client, published, wheel, as_alice, unchanged):
    response = post_upload(client, wheel, auth=as_alice)
    assert_refused(response, 400, "File already exists")
    unchanged()


def test_a_different_file_under_an_existing_name_is_400_file_already_exists(
    client, published, wheel, as_alice, unchanged, tmp_path
):
    other = build_wheel(tmp_path / "other", "pn-upload", "1.0", summary="different bytes")
    assert other.name == wheel.name
    response = post_upload(client, other, auth=as_alice)
    assert_refused(response, 400, "File already exists")
    unchanged()


def test_a_deleted_filename_can_never_be_reused(client, published, wheel, store, upload_temp_dir, as_alice):
    services.remove_file(published, wheel.name, store=store, source="test")
    before = catalog_state(store, upload_temp_dir)
    response = post_upload(client, wheel, auth=as_alice)
    assert_refused(response, 400, "This filename has already been used")
    assert "already exist" not in response.content.decode()  # twine --skip-existing must not skip it
    assert catalog_state(store, upload_temp_dir) == before


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"action": None}, "Unsupported :action ''"),
        ({"action": "submit"}, "Unsupported :action 'submit'"),
        ({"protocol_version": "2"}, "Unknown protocol_version"),
        ({"name": None}, "Missing required field: name"),
        ({"version": None}, "Missing required field: version"),
        ({"filetype": None}, "Missing required field: filetype"),
        ({"filetype": "bdist_egg"}, "Unsupported filetype 'bdist_egg'"),
        ({"filetype": "sdist"}, "filetype sdist does not match the file"),
        (dict.fromkeys(["md5_digest", "sha256_digest", "blake2_256_digest"]), "Missing required field: sha256_digest"),
        ({"sha256_digest": "xyz"}, "Invalid sha256_digest"),
        ({"name": "someone-else"}, "The name 'someone-else' in the form does not match the file"),
        ({"version": "1.1"}, "The version '1.1' in the form does not match the file"),
        ({"version": "not a version"}, "Invalid version 'not a version'"),
    ],
)
def test_a_bad_form_is_400(client, wheel, as_alice, unchanged, overrides, reason):
    response = post_upload(client, wheel, auth=as_alice, **overrides)
    assert_refused(response, 400, reason)
    unchanged()


@pytest.mark.parametrize(
    "filename",
    [
        "../pn_upload-1.0-py3-none-any.whl",
        "dist/pn_upload-1.0-py3-none-any.whl",
        "/tmp/pn_upload-1.0-py3-none-any.whl",
        "..\\pn_upload-1.0-py3-none-any.whl",
        ".pn_upload-1.0-py3-none-any.whl",
    ],
)
def test_a_file_name_with_a_path_is_400(client, wheel, as_alice, unchanged, filename):
    response = post_upload(client, wheel, auth=as_alice, filename=filename)
    assert_refused(response, 400, "is not a plain file name")
    unchanged()


def test_a_file_that_is_no_distribution_is_400(client, wheel, as_alice, unchanged):
    response = post_upload(client, wheel, auth=as_alice, filename="notes.txt")
    assert_refused(response, 400, "not a wheel (.whl) or an sdist")
    unchanged()


@pytest.mark.parametrize("field", ["sha256_digest", "md5_digest", "blake2_256_digest"])
def test_a_wrong_digest_is_400(client, wheel, as_alice, unchanged, field):
    wrong = "0" * len(upload_fields(wheel)[field])
    response = post_upload(client, wheel, auth=as_alice, **{field: wrong})
    assert_refused(response, 400, "digest of the bytes received is")
    unchanged()


def test_bytes_changed_in_transit_are_400(client, wheel, as_alice, unchanged):
    damaged = bytearray(wheel.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    fields = upload_fields(wheel)  # digests of the bytes twine meant to send
    body = multipart(fields, [("content", wheel.name, bytes(damaged))])
    response = client.generic("POST", "/legacy/", body, content_type=content_type(), **as_alice)
    assert_refused(response, 400, "sha256 digest of the bytes received is")
    unchanged()


def test_a_corrupt_zip_is_400(client, wheel, as_alice, unchanged):
    data = wheel.read_bytes()
    truncated = data[: len(data) // 2]
    response = post_upload(client, wheel, auth=as_alice, data=truncated)
    assert_refused(response, 400, "unreadable zip archive")
    unchanged()


def test_a_corrupt_tar_is_400(client, sdist, as_alice, unchanged):
    data = sdist.read_bytes()
    response = post_upload(client, sdist, auth=as_alice, data=data[:-40])
    assert response.status_code == 400, response.content
    assert "unreadable archive" in response.reason_phrase
    unchanged()


def test_a_tar_that_is_not_gzip_is_400(client, sdist, as_alice, unchanged):
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w"):
        pass
    response = post_upload(client, sdist, auth=as_alice, data=plain.getvalue())
    assert_refused(response, 400, "unreadable archive")
    unchanged()


def test_metadata_that_disagrees_with_the_file_name_is_400(client, dist, as_alice, unchanged):
    liar = build_wheel(dist, "pn-liar", "1.0", metadata_name="pn-honest")
    response = post_upload(client, liar, auth=as_alice)
    assert_refused(response, 400, "its metadata says Name: pn-honest")
    unchanged()


def test_a_file_over_the_size_limit_is_413(client, wheel, as_alice, unchanged, settings):
    settings.PYTHONNEST = dataclasses.replace(settings.PYTHONNEST, max_upload_size=wheel.stat().st_size - 1)
    response = post_upload(client, wheel, auth=as_alice)
    assert_refused(response, 413, "File too large")
    assert str(wheel.stat().st_size - 1) in response.reason_phrase
    unchanged()


def test_a_body_far_over_the_limit_is_413_before_it_is_read(client, wheel, as_alice, unchanged, settings, monkeypatch):
    settings.PYTHONNEST = dataclasses.replace(settings.PYTHONNEST, max_upload_size=10)
    monkeypatch.setattr(upload_api, "FORM_ALLOWANCE", 100)
    response = post_upload(client, wheel, auth=as_alice)
    assert_refused(response, 413, "File too large")
    unchanged()


def test_a_file_at_the_size_limit_is_accepted(client, wheel, as_alice, settings):
    settings.PYTHONNEST = dataclasses.replace(settings.PYTHONNEST, max_upload_size=wheel.stat().st_size)
    assert post_upload(client, wheel, auth=as_alice).status_code == 200


def test_a_missing_file_is_400(client, wheel, as_alice, unchanged):
    body = multipart(upload_fields(wheel), [])
    response = client.generic("POST", "/legacy/", body, content_type=content_type(), **as_alice)
    assert_refused(response, 400, "Missing required field: content")
    unchanged()


@pytest.mark.parametrize(
    ("body", "type_"),
    [
        (b"name=pn-upload&version=1.0", "application/x-www-form-urlencoded"),
        (b"--x\r\n", "multipart/form-data"),
        (b"--x\r\n", "multipart/form-data; boundary=\x7f\x7f"),
    ],
    ids=["not-multipart", "no-boundary", "bad-boundary"],
)
def test_a_malformed_body_is_400(client, as_alice, alice, unchanged, body, type_):
    response = client.generic("POST", "/legacy/", body, content_type=type_, **as_alice)
    assert response.status_code == 400, response.content
    assert "Malformed" in response.reason_phrase
    unchanged()


def test_a_truncated_body_is_400(client, wheel, as_alice, unchanged):
    body = multipart(upload_fields(wheel), [("content", wheel.name, wheel.read_bytes())])
    cut = body[: len(body) - 200]
    response = client.generic("POST", "/legacy/", cut, content_type=content_type(), **as_alice)
    assert_refused(response, 400, "Malformed multipart body: the file part 'content' is incomplete")
    unchanged()


def test_get_is_405(client):
    response = client.get("/legacy/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_a_concurrent_first_upload_leaves_one_owner(client, store, dist, alice, bob, as_alice, monkeypatch):
    """The rights are checked again under the catalog lock: the project may appear meanwhile."""
    first = build_wheel(dist, "pn-race", "1.0")
    second = build_wheel(dist, "pn-race", "1.0", tag="py2-none-any")
    original = services.add_distribution

    def bob_wins_the_race(*args, **kwargs):
        if not Project.objects.filter(normalized_name="pn-race").exists():
            bob_upload = original(
                first.open("rb"),
                first.name,
                store=store,
                source="upload",
                on_new_project=lambda project: access.grant_first_owner(project, bob),
            )
            assert bob_upload.new_project
        return original(*args, **kwargs)

    monkeypatch.setattr(uploads, "add_distribution", bob_wins_the_race)
    response = post_upload(client, second, auth=as_alice)
    assert_refused(response, 403, "The user 'alice' isn't allowed to upload to project 'pn-race'")
    assert access.project_roles(Project.objects.get()) == [("Owner", "bob")]
    assert list(File.objects.values_list("filename", flat=True)) == [first.name]
