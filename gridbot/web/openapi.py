"""The OpenAPI 3 document of /api/v1/, as data. tests/unit/test_api.py checks it lists exactly the blueprint's routes;
schemathesis generates requests from it."""
from __future__ import annotations

import copy
from typing import Any

from ..models.tickets import STATUSES
from ..services.tickets import ACTIONS, PSEUDO_STATUSES, URGENCIES, category_codes

VERSION = "1.0.0"


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ERRORS = {
    "400": _error("参数有误 (bad_request)"),
    "401": _error("缺少或无效的令牌 (unauthorized)"),
    "403": _error("超出角色或网格范围 (forbidden)，已审计"),
    "404": _error("找不到 (not_found)"),
}


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query",
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema}


NULLABLE_STR = {"type": ["string", "null"]}
TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "enum": ["unauthorized", "forbidden", "not_found", "method_not_allowed",
                                                 "bad_request", "invalid_transition", "internal"]},
            "message": {"type": "string"}}}},
    },
    "Ticket": {
        "type": "object",
        "required": ["number", "grid", "category", "urgency", "status", "summary", "created_at"],
        "properties": {
            "number": {"type": "string", "example": "XF-20261129-0001"},
            "grid": {"type": "string"},
            "category": {"type": "string"},        # enum: config/categories.yaml, filled in by document()
            "urgency": {"type": "string", "enum": list(URGENCIES)},
            "status": {"type": "string", "enum": list(STATUSES)},
            "building": NULLABLE_STR, "unit": NULLABLE_STR, "room": NULLABLE_STR,
            "summary": {"type": "string"},
            "contact_phone": {"type": ["string", "null"],
                              "description": "完整号码仅对有权查看本网格个人信息的角色；否则打码"},
            "assignee": NULLABLE_STR,
            "reporters": {"type": "integer"},
            "escalation_level": {"type": "integer"},
            "rating": NULLABLE_STR,
            "created_at": {"type": "string", "format": "date-time"},
            "response_due": TIME, "resolution_due": TIME, "closed_at": TIME,
        },
    },
    "TicketDetail": {
        "allOf": [{"$ref": "#/components/schemas/Ticket"}, {
            "type": "object", "required": ["events", "actions"],
            "properties": {
                "events": {"type": "array", "items": {"type": "object", "properties": {
                    "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"},
                    "action": {"type": "string"}, "from": NULLABLE_STR, "to": {"type": "string"},
                    "note": NULLABLE_STR}}},
                "actions": {"type": "array", "items": {"type": "string", "enum": list(ACTIONS)}},
            }}],
    },
    "TicketPage": {
        "type": "object", "required": ["items", "page", "per_page", "total"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}},
                       "page": {"type": "integer"}, "per_page": {"type": "integer"},
                       "total": {"type": "integer"}},
    },
    "Transition": {
        "type": "object", "required": ["action"],
        "properties": {
            "action": {"type": "string", "enum": list(ACTIONS)},
            "note": {"type": "string", "maxLength": 500, "description": "不予立案、办结、重开、核查不通过时必填"},
            "to": {"type": "string", "maxLength": 128, "description": "派遣、转派的对象（网格员 userid 或姓名）"},
        },
    },
    "Grid": {
        "type": "object", "required": ["code", "name", "level"],
        "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "level": {"type": "integer"},
                       "parent": NULLABLE_STR, "households": {"type": "integer"}},
    },
    "Coverage": {
        "type": "object", "required": ["total", "grids"],
        "properties": {
            "total": {"type": "object", "properties": {"households": {"type": "integer"},
                                                       "covered": {"type": "integer"},
                                                       "ratio": {"type": ["number", "null"]}}},
            "grids": {"type": "array", "items": {"type": "object", "properties": {
                "grid": {"type": "string"}, "name": {"type": "string"}, "households": {"type": "integer"},
                "covered": {"type": "integer"}, "ratio": {"type": ["number", "null"]},
                "uncovered": {"type": "array", "items": {"type": "object"}}}}},
        },
    },
    "Digest": {
        "type": "object", "required": ["digest", "markdown"],
        "properties": {"digest": {"type": "object"}, "markdown": {"type": "string"}},
    },
}

SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
PAGE_PARAMS = [
    _param("page", "页码，从 1 开始", {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1}),
    _param("per_page", "每页条数", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
]
NUMBER = _param("number", "工单编号", {"type": "string", "minLength": 1, "maxLength": 48}, where="path",
                required=True)


def _ok(schema: str, description: str = "成功") -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


PATHS: dict[str, Any] = {
    "/tickets": {"get": {
        "operationId": "listTickets", "summary": "工单列表（本人网格范围内，分页）", "security": SECURED,
        "parameters": PAGE_PARAMS + [
            _param("grid", "网格编码（含其下级网格）", {"type": "string", "maxLength": 64}),
            _param("category", "类别", {"type": "string"}),           # enum: filled in by document()
            _param("status", "状态；open=未办结，overdue=已超时", {"type": "string",
                                                               "enum": list(STATUSES + PSEUDO_STATUSES)}),
            _param("urgency", "紧急程度", {"type": "string", "enum": list(URGENCIES)}),
            _param("assignee", "承办人 userid", {"type": "string", "maxLength": 128}),
            _param("from", "上报日期起（本地日期）", {"type": "string", "format": "date"}),
            _param("to", "上报日期止（含）", {"type": "string", "format": "date"}),
        ],
        "responses": {"200": _ok("TicketPage"), **{k: ERRORS[k] for k in ("400", "401", "403", "404")}},
    }},
    "/tickets/{number}": {"get": {
        "operationId": "getTicket", "summary": "工单详情与处理经过", "security": SECURED, "parameters": [NUMBER],
        "responses": {"200": _ok("TicketDetail"), **{k: ERRORS[k] for k in ("401", "403", "404")}},
    }},
    "/tickets/{number}/transition": {"post": {
        "operationId": "transitionTicket", "summary": "办理工单（受理、派遣、办结、核查、结案、重开、转派、升级…）",
        "security": SECURED, "parameters": [NUMBER],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Transition"}}}},
        "responses": {"200": _ok("TicketDetail", "办理后的工单"),
                      "409": _error("当前状态不能这样办理 (invalid_transition)"),
                      **{k: ERRORS[k] for k in ("400", "401", "403", "404")}},
    }},
    "/grids": {"get": {
        "operationId": "listGrids", "summary": "本人范围内的网格", "security": SECURED,
        "responses": {"200": {"description": "成功", "content": {"application/json": {"schema": {
            "type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Grid"}}}}}}},
            "401": ERRORS["401"], "403": ERRORS["403"]},
    }},
    "/coverage": {"get": {
        "operationId": "getCoverage", "summary": "住户入群覆盖率（指定网格时含未覆盖名单）", "security": SECURED,
        "parameters": [_param("grid", "网格编码", {"type": "string", "maxLength": 64})],
        "responses": {"200": _ok("Coverage"), **{k: ERRORS[k] for k in ("401", "403", "404")}},
    }},
    "/digests": {"get": {
        "operationId": "getDigest", "summary": "每日简报（书记看全社区，其他人看本人网格）", "security": SECURED,
        "parameters": [_param("day", "简报日期（本地日期，默认今天；2000–2099 年）",
                              {"type": "string", "format": "date", "pattern": r"^20\d\d-\d\d-\d\d$"}),
                       _param("grid", "网格编码", {"type": "string", "maxLength": 64})],
        "responses": {"200": _ok("Digest"), **{k: ERRORS[k] for k in ("400", "401", "403", "404")}},
    }},
    "/openapi.json": {"get": {
        "operationId": "openapi", "summary": "本文档", "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1 文档", "content": {"application/json": {
            "schema": {"type": "object"}}}}},
    }},
}


def document(server: str = "") -> dict[str, Any]:
    """The document; the category lists come from config/categories.yaml as configured now."""
    categories = list(category_codes())
    paths, schemas = copy.deepcopy(PATHS), copy.deepcopy(SCHEMAS)
    schemas["Ticket"]["properties"]["category"]["enum"] = categories
    for param in paths["/tickets"]["get"]["parameters"]:
        if param["name"] == "category":
            param["schema"]["enum"] = categories
    return {
        "openapi": "3.1.0",
        "info": {"title": "gridbot API", "version": VERSION,
                 "description": "网格化管理群机器人的数据接口。令牌在管理台“API 令牌”页或 "
                                "`gridbot account token` 生成，权限与所属账号相同（角色与网格范围）。"
                                "错误格式：{\"error\": {\"code\", \"message\"}}。"},
        "servers": [{"url": f"{server}/api/v1"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "gbt_ 开头的 API 令牌"}}},
    }
