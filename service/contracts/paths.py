"""The REST resources' paths: the API's routes and the CloudEvents' `source`
name the same resources with the same templates."""

from __future__ import annotations

BASE_PATH = "/nevisidm/api/core/v1"
USERS_PATH = BASE_PATH + "/{clientExtId}/users"
USER_PATH = USERS_PATH + "/{userExtId}"
CREDENTIAL_PATH = USER_PATH + "/tempstrong-password"
CREDENTIAL_LIST_PATH = BASE_PATH + "/{clientExtId}/tempstrong-passwords"
