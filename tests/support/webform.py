"""Driving Redmine's real HTML forms with a logged-in session and its CSRF
token, as a browser would post them."""

from __future__ import annotations

import html.parser
import re
from typing import Any, Mapping

import requests


class _FormFields(html.parser.HTMLParser):
    """Collects the CSRF token and the names of the inputs on a page."""

    def __init__(self):
        super().__init__()
        self.token: str | None = None
        self.names: set[str] = set()
        self.values: dict[str, str] = {}  # hidden and text inputs' values
        self.options: dict[str, list[str]] = {}  # a select's option labels
        self.errors: list[str] = []
        self._in_errors = 0
        self._select: str | None = None
        self._option: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and a.get("name") == "csrf-token":
            self.token = a.get("content")
        if tag in ("input", "select", "textarea") and a.get("name"):
            self.names.add(a["name"])
            if tag == "input" and a.get("value") is not None:
                self.values.setdefault(a["name"], a["value"])
        if tag == "select" and a.get("name"):
            self._select = a["name"]
            self.options.setdefault(a["name"], [])
        elif tag == "option" and self._select:
            self._option = ""
        if tag == "div" and a.get("id") == "errorExplanation":
            self._in_errors = 1
        elif self._in_errors and tag == "li":
            self.errors.append("")

    def handle_endtag(self, tag):
        if tag == "div" and self._in_errors:
            self._in_errors = 0
        if tag == "option" and self._select and self._option is not None:
            self.options[self._select].append(self._option.strip())
            self._option = None
        if tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._in_errors and self.errors:
            self.errors[-1] += data
        if self._option is not None:
            self._option += data


def parse(page: str) -> _FormFields:
    parser = _FormFields()
    parser.feed(page)
    parser.errors = [e.strip() for e in parser.errors]
    return parser


class WebSession:
    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")
        self.http = requests.Session()

    def login(self, login: str, password: str) -> None:
        page = parse(self.http.get(f"{self.base}/login", timeout=10).text)
        r = self.http.post(
            f"{self.base}/login",
            data={"username": login, "password": password, "authenticity_token": page.token},
            allow_redirects=False,
            timeout=10,
        )
        if r.status_code != 302 or "/login" in r.headers.get("Location", ""):
            raise AssertionError(f"web login as {login} failed (HTTP {r.status_code})")

    def new_issue_form(self, project: str, tracker_id: int) -> _FormFields:
        r = self.http.get(f"{self.base}/projects/{project}/issues/new", params={"issue[tracker_id]": tracker_id}, timeout=10)
        r.raise_for_status()
        return parse(r.text)

    def create_issue(self, project: str, tracker_id: int, subject: str, custom_values: Mapping[int, Any]) -> requests.Response:
        form = self.new_issue_form(project, tracker_id)
        data: list[tuple[str, Any]] = [
            ("authenticity_token", form.token),
            ("issue[tracker_id]", tracker_id),
            ("issue[subject]", subject),
            ("commit", "Create"),
        ]
        for field_id, value in custom_values.items():
            name = f"issue[custom_field_values][{field_id}]"
            if isinstance(value, list):
                data += [(name + "[]", v) for v in value]
            else:
                data.append((name, value))
        return self.http.post(f"{self.base}/projects/{project}/issues", data=data, allow_redirects=False, timeout=30)

    def issue_page(self, issue_id: int) -> _FormFields:
        """The issue's page, with its edit form."""
        r = self.http.get(f"{self.base}/issues/{issue_id}", timeout=10)
        r.raise_for_status()
        return parse(r.text)

    def update_issue(self, issue_id: int, custom_values: Mapping[int, Any], *, status_id: int | None = None, notes: str = "") -> requests.Response:
        """Submit the issue's edit form as a browser would (its CSRF token and
        lock version from the page), changing only what is given."""
        page = self.issue_page(issue_id)
        data: list[tuple[str, Any]] = [
            ("_method", "patch"),
            ("authenticity_token", page.token),
            ("issue[lock_version]", page.values.get("issue[lock_version]", "0")),
            ("issue[notes]", notes),
            ("commit", "Submit"),
        ]
        if status_id is not None:
            data.append(("issue[status_id]", status_id))
        for field_id, value in custom_values.items():
            name = f"issue[custom_field_values][{field_id}]"
            data += [(name + "[]", v) for v in value] if isinstance(value, list) else [(name, value)]
        return self.http.post(f"{self.base}/issues/{issue_id}", data=data, allow_redirects=False, timeout=30)

    @staticmethod
    def issue_id_from_redirect(response: requests.Response) -> int:
        match = re.search(r"/issues/(\d+)$", response.headers.get("Location", ""))
        if response.status_code != 302 or not match:
            errors = parse(response.text).errors
            raise AssertionError(f"the form was not accepted (HTTP {response.status_code}): {errors}")
        return int(match.group(1))
