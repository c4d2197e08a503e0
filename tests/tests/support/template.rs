//! template.yaml with its intrinsic functions resolved against known
//! parameter values: `!Ref`, `!GetAtt`, `!Sub`, `!If` and the condition
//! functions (`!Equals`, `!Not`, `!And`, `!Or`, `!Condition`), the ones the
//! template uses. An intrinsic it does not know is an error, so the checks
//! never silently skip a statement.
//!
//! Two ways to resolve a resource: as CloudFormation does on deploy (each
//! resource's `Ref` and attributes are given), or as `sam local` does
//! (`!Ref` of a resource gives its logical id; samcli's
//! `IntrinsicsSymbolTable`), with samcli's pseudo-parameter defaults.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value;

/// How the resources of the template resolve.
#[derive(Clone, Debug)]
pub enum Resources {
    /// On deploy: `Ref` and attributes of each resource (missing ones are errors).
    Deployed(BTreeMap<String, (String, BTreeMap<String, String>)>),
    /// `sam local`: `!Ref Resource` is the logical id.
    SamLocal,
}

#[derive(Clone, Debug)]
pub struct Resolver {
    pub template: Value,
    pub params: BTreeMap<String, String>,
    pub pseudo: BTreeMap<String, String>,
    pub resources: Resources,
}

/// samcli's defaults for pseudo parameters in `sam local` (IntrinsicsSymbolTable.DEFAULT_PSEUDO_PARAM_VALUES).
pub fn sam_local_pseudo() -> BTreeMap<String, String> {
    [
        ("AWS::AccountId", "123456789012"),
        ("AWS::Partition", "aws"),
        ("AWS::Region", "us-east-1"),
        ("AWS::StackName", "local"),
        ("AWS::URLSuffix", "localhost"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn parse(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("template parses as YAML")
}

impl Resolver {
    /// Parameters: `overrides`, else the template's `Default`; one with neither stays unresolved.
    pub fn new(
        template: Value,
        overrides: &BTreeMap<String, String>,
        pseudo: BTreeMap<String, String>,
        resources: Resources,
    ) -> Self {
        let mut params = BTreeMap::new();
        if let Some(m) = template["Parameters"].as_mapping() {
            for (k, v) in m {
                let name = k.as_str().unwrap().to_string();
                let default = match &v["Default"] {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                if let Some(value) = overrides.get(&name).cloned().or(default) {
                    params.insert(name, value);
                }
            }
        }
        Self { template, params, pseudo, resources }
    }

    pub fn has_parameter(&self, name: &str) -> bool {
        self.template["Parameters"].get(name).is_some()
    }

    pub fn condition(&self, name: &str) -> Result<bool, String> {
        let c = self.template["Conditions"].get(name).ok_or_else(|| format!("no condition {name}"))?.clone();
        self.truth(&c)
    }

    fn truth(&self, v: &Value) -> Result<bool, String> {
        let Value::Tagged(t) = v else { return Err(format!("not a condition: {v:?}")) };
        let args = || t.value.as_sequence().cloned().unwrap_or_default();
        match t.tag.to_string().trim_start_matches('!') {
            "Equals" => {
                let a = args();
                Ok(self.string(&a[0])? == self.string(&a[1])?)
            }
            "Not" => Ok(!self.truth(&args()[0])?),
            "And" => args().iter().map(|c| self.truth(c)).collect::<Result<Vec<_>, _>>().map(|v| v.iter().all(|b| *b)),
            "Or" => args().iter().map(|c| self.truth(c)).collect::<Result<Vec<_>, _>>().map(|v| v.iter().any(|b| *b)),
            "Condition" => self.condition(t.value.as_str().unwrap()),
            other => Err(format!("condition function {other} is not known to the checker")),
        }
    }

    fn reference(&self, name: &str) -> Result<Option<String>, String> {
        if let Some(v) = self.pseudo.get(name) {
            return Ok(Some(v.clone()));
        }
        if self.has_parameter(name) {
            return Ok(self.params.get(name).cloned());
        }
        if self.template["Resources"].get(name).is_some() {
            return match &self.resources {
                Resources::SamLocal => Ok(Some(name.to_string())),
                Resources::Deployed(r) => r
                    .get(name)
                    .map(|(id, _)| Some(id.clone()))
                    .ok_or_else(|| format!("no Ref value for resource {name}")),
            };
        }
        Err(format!("!Ref {name}: no parameter, pseudo parameter or resource of that name"))
    }

    fn attribute(&self, resource: &str, attr: &str) -> Result<Option<String>, String> {
        match &self.resources {
            Resources::SamLocal => Ok(None),
            Resources::Deployed(r) => r
                .get(resource)
                .and_then(|(_, attrs)| attrs.get(attr))
                .map(|v| Some(v.clone()))
                .ok_or_else(|| format!("no value for !GetAtt {resource}.{attr}")),
        }
    }

    fn string(&self, v: &Value) -> Result<String, String> {
        match self.resolve(v)? {
            Some(Json::String(s)) => Ok(s),
            Some(Json::Number(n)) => Ok(n.to_string()),
            other => Err(format!("{v:?} does not resolve to a string: {other:?}")),
        }
    }

    fn sub(&self, text: &str, vars: &BTreeMap<String, String>) -> Result<Option<String>, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if let Some((res, attr)) = name.split_once('.') {
                match self.attribute(res, attr)? {
                    Some(v) => out.push_str(&v),
                    None => return Ok(None),
                }
            } else {
                match self.reference(name)? {
                    Some(v) => out.push_str(&v),
                    None => return Ok(None),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Some(out))
    }

    /// The value with every intrinsic resolved; `None` is `AWS::NoValue`
    /// (or, in `sam local`, a value it cannot resolve).
    pub fn resolve(&self, v: &Value) -> Result<Option<Json>, String> {
        Ok(match v {
            Value::Null => Some(Json::Null),
            Value::Bool(b) => Some(Json::Bool(*b)),
            Value::Number(n) => Some(serde_json::to_value(n).unwrap()),
            Value::String(s) => Some(Json::String(s.clone())),
            Value::Sequence(items) => {
                let mut out = Vec::new();
                for i in items {
                    if let Some(x) = self.resolve(i)? {
                        out.push(x);
                    }
                }
                Some(Json::Array(out))
            }
            Value::Mapping(m) => {
                let mut out = Map::new();
                for (k, val) in m {
                    if let Some(x) = self.resolve(val)? {
                        out.insert(k.as_str().unwrap_or_default().to_string(), x);
                    }
                }
                Some(Json::Object(out))
            }
            Value::Tagged(t) => {
                let tag = t.tag.to_string();
                match tag.trim_start_matches('!') {
                    "Ref" => {
                        let name = t.value.as_str().unwrap();
                        if name == "AWS::NoValue" {
                            return Ok(None);
                        }
                        self.reference(name)?.map(Json::String)
                    }
                    "GetAtt" => {
                        let (res, attr) = match &t.value {
                            Value::String(s) => {
                                let (r, a) = s.split_once('.').unwrap();
                                (r.to_string(), a.to_string())
                            }
                            Value::Sequence(s) => {
                                (s[0].as_str().unwrap().to_string(), s[1].as_str().unwrap().to_string())
                            }
                            other => return Err(format!("!GetAtt {other:?}")),
                        };
                        self.attribute(&res, &attr)?.map(Json::String)
                    }
                    "Sub" => match &t.value {
                        Value::String(s) => self.sub(s, &BTreeMap::new())?.map(Json::String),
                        Value::Sequence(items) => {
                            let mut vars = BTreeMap::new();
                            for (k, val) in items[1].as_mapping().unwrap() {
                                vars.insert(k.as_str().unwrap().to_string(), self.string(val)?);
                            }
                            self.sub(items[0].as_str().unwrap(), &vars)?.map(Json::String)
                        }
                        other => return Err(format!("!Sub {other:?}")),
                    },
                    "If" => {
                        let args = t.value.as_sequence().unwrap();
                        let which = if self.condition(args[0].as_str().unwrap())? { &args[1] } else { &args[2] };
                        return self.resolve(which);
                    }
                    other => return Err(format!("intrinsic !{other} is not known to the checker")),
                }
            }
        })
    }
}

/// The `sam local invoke` command the README shows (between the markers
/// `<!-- sam-local-invoke -->` and `<!-- /sam-local-invoke -->`).
#[derive(Debug, Clone)]
pub struct SamLocalCommand {
    pub function: String,
    pub event: String,
    pub env_vars: String,
    pub overrides: BTreeMap<String, String>,
}

pub fn readme_sam_local_command(readme: &str) -> SamLocalCommand {
    let start = readme.find("<!-- sam-local-invoke -->").expect("README marks the sam local invoke command");
    let end = readme.find("<!-- /sam-local-invoke -->").expect("README closes the sam local invoke marker");
    let block = &readme[start..end];
    let command: String = block
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("sam local invoke"))
        .take_while(|l| !l.trim_start().starts_with("```"))
        .map(|l| l.trim().trim_end_matches('\\').trim().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert!(words.len() > 3 && words[..3] == ["sam", "local", "invoke"], "{command}");
    let mut cmd = SamLocalCommand {
        function: words[3].to_string(),
        event: String::new(),
        env_vars: String::new(),
        overrides: BTreeMap::new(),
    };
    let mut i = 4;
    while i < words.len() {
        match words[i] {
            "-e" | "--event" => {
                cmd.event = words[i + 1].to_string();
                i += 2;
            }
            "--env-vars" | "-n" => {
                cmd.env_vars = words[i + 1].to_string();
                i += 2;
            }
            "--parameter-overrides" => {
                i += 1;
                while i < words.len() && !words[i].starts_with('-') {
                    let (k, v) = words[i].split_once('=').unwrap_or_else(|| panic!("override {:?}", words[i]));
                    cmd.overrides.insert(k.to_string(), v.to_string());
                    i += 1;
                }
            }
            other => panic!("the README's sam local invoke command has {other:?}, which this test does not know"),
        }
    }
    cmd
}

/// A function's environment as `sam local invoke` gives it: the template's
/// variables (Globals merged) resolved with the parameter overrides, `!Ref`
/// of a resource as its logical id and anything unresolved as "" (samcli's
/// `EnvironmentVariables._stringify_value`); then the `--env-vars` file's
/// `Parameters` object (every function) and the function's own object,
/// which override only variables the template declares.
pub fn sam_local_environment(
    template_text: &str,
    function: &str,
    overrides: &BTreeMap<String, String>,
    env_vars: Option<&Json>,
) -> Result<BTreeMap<String, String>, String> {
    let t = parse(template_text);
    if t["Resources"].get(function).is_none() {
        return Err(format!("no function {function} in the template"));
    }
    let r = Resolver::new(t.clone(), overrides, sam_local_pseudo(), Resources::SamLocal);
    let mut vars = BTreeMap::new();
    for scope in [&t["Globals"]["Function"], &t["Resources"][function]["Properties"]] {
        if let Some(m) = scope["Environment"]["Variables"].as_mapping() {
            for (k, v) in m {
                let value = match r.resolve(v)? {
                    Some(Json::String(s)) => s,
                    Some(Json::Number(n)) => n.to_string(),
                    Some(Json::Bool(b)) => b.to_string(),
                    _ => String::new(),
                };
                vars.insert(k.as_str().unwrap().to_string(), value);
            }
        }
    }
    if let Some(file) = env_vars {
        for scope in [&file["Parameters"], &file[function]] {
            if let Some(m) = scope.as_object() {
                for (k, v) in m {
                    if vars.contains_key(k) {
                        vars.insert(k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
                    }
                }
            }
        }
    }
    Ok(vars)
}
