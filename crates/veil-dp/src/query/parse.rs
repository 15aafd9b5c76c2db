//! From SQL text to the small query language Veil can release privately.
//!
//! `sqlparser` parses the text (generic dialect); this module accepts exactly one shape —
//! `SELECT <group columns and aggregates> FROM data [WHERE <filter>] [GROUP BY <columns>]` —
//! and turns everything else into an error that says what is supported. Rejecting is the
//! safe default: a construct this module does not know (a join, a subquery, a window, an
//! expression inside an aggregate) could change how much one person can move the result,
//! which the noise must cover.

use sqlparser::ast::{
    self, BinaryOperator, Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, SelectItem, SetExpr, Statement, UnaryOperator, Value,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::error::{Error, QueryError, Result};

/// What Veil's DP SQL accepts, quoted in every rejection.
pub const SUPPORTED: &str = "supported: SELECT <GROUP BY columns and aggregates> FROM data \
[WHERE <filter>] [GROUP BY <columns>], with aggregates COUNT(*), COUNT(col), SUM(col), \
AVG(col), VARIANCE(col), STDDEV(col), MEDIAN(col), PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY col) \
or PERCENTILE_CONT(col, p), and filters built from =, <>, <, <=, >, >=, AND, OR, NOT, IN (...), \
BETWEEN, IS [NOT] NULL on columns and literals";

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    /// `COUNT(*)` or `COUNT(col)` (rows where col is present).
    Count,
    /// `SUM(col)`.
    Sum,
    /// `AVG(col)`.
    Avg,
    /// `VARIANCE(col)` (population variance).
    Variance,
    /// `STDDEV(col)` (population standard deviation).
    Stddev,
    /// `MEDIAN(col)` = `PERCENTILE_CONT(0.5)`, or another percentile p in [0, 1].
    Percentile(f64),
}

/// One output column of the query.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A GROUP BY column, released as its key.
    Group(String),
    /// An aggregate over a column (`None`: `COUNT(*)`).
    Aggregate(Aggregate, Option<String>),
}

/// A named output column.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputColumn {
    /// The alias, or a canonical lower-case name such as `avg(age)`.
    pub name: String,
    /// What it holds.
    pub output: Output,
}

/// A literal in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A number.
    Number(f64),
    /// A string.
    Text(String),
    /// TRUE or FALSE.
    Bool(bool),
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A column of the table.
    Column(String),
    /// A constant.
    Literal(Literal),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A WHERE condition, with SQL's three-valued logic (a comparison with a missing value is
/// unknown, and a row is kept only when the condition is true).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// `left op right`.
    Compare(Operand, CmpOp, Operand),
    /// `col [NOT] IN (literals)`.
    In(Operand, Vec<Literal>, bool),
    /// `x [NOT] BETWEEN lo AND hi`.
    Between(Operand, Operand, Operand, bool),
    /// `col IS [NOT] NULL`.
    IsNull(Operand, bool),
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// The output columns, in order.
    pub outputs: Vec<OutputColumn>,
    /// The WHERE condition.
    pub filter: Option<Filter>,
    /// The GROUP BY columns.
    pub group_by: Vec<String>,
}

fn unsupported(what: impl std::fmt::Display) -> Error {
    Error::Query(QueryError::Unsupported {
        construct: what.to_string(),
    })
}

/// Parses `sql` into a [`Select`], or explains what is not supported.
pub fn parse(sql: &str) -> Result<Select> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| Error::Query(QueryError::Parse(e)))?;
    let [statement] = statements.as_slice() else {
        return Err(QueryError::NotOneStatement(statements.len()).into());
    };
    let Statement::Query(query) = statement else {
        return Err(unsupported("a statement other than SELECT"));
    };
    if query.with.is_some() {
        return Err(unsupported("WITH (common table expressions)"));
    }
    if query.order_by.is_some() {
        return Err(unsupported("ORDER BY (released rows are sorted by key)"));
    }
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return Err(unsupported("LIMIT / FETCH"));
    }
    if !query.locks.is_empty()
        || query.for_clause.is_some()
        || query.settings.is_some()
        || query.format_clause.is_some()
        || !query.pipe_operators.is_empty()
    {
        return Err(unsupported("a query clause after SELECT"));
    }
    let select = match query.body.as_ref() {
        SetExpr::Select(select) => select,
        SetExpr::Query(_) => return Err(unsupported("a parenthesised subquery")),
        SetExpr::SetOperation { op, .. } => return Err(unsupported(op)),
        _ => return Err(unsupported("this kind of query")),
    };
    check_clauses(select)?;
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs
            .iter()
            .map(|e| {
                column_name(e).ok_or_else(|| {
                    unsupported(format_args!(
                        "GROUP BY {e} (only plain columns can be grouped)"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?,
        _ => return Err(unsupported("GROUP BY ALL / ROLLUP / CUBE")),
    };
    let outputs = select
        .projection
        .iter()
        .map(|item| output(item, &group_by))
        .collect::<Result<Vec<_>>>()?;
    if outputs.is_empty() {
        return Err(QueryError::SelectsNothing.into());
    }
    for (i, o) in outputs.iter().enumerate() {
        if outputs[..i].iter().any(|p| p.name == o.name) {
            return Err(QueryError::DuplicateOutput(o.name.clone()).into());
        }
    }
    let filter = select.selection.as_ref().map(filter).transpose()?;
    Ok(Select {
        outputs,
        filter,
        group_by,
    })
}

/// Everything a SELECT may carry besides projection, FROM data, WHERE and GROUP BY is refused.
fn check_clauses(select: &ast::Select) -> Result<()> {
    if select.distinct.is_some() {
        return Err(unsupported("SELECT DISTINCT"));
    }
    if select.top.is_some() || select.into.is_some() || select.exclude.is_some() {
        return Err(unsupported("TOP / INTO / EXCLUDE"));
    }
    if select.having.is_some() {
        return Err(unsupported("HAVING"));
    }
    if !select.named_window.is_empty() || select.qualify.is_some() {
        return Err(unsupported("window functions"));
    }
    if !select.lateral_views.is_empty()
        || select.prewhere.is_some()
        || !select.connect_by.is_empty()
        || !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
        || !select.sort_by.is_empty()
        || select.value_table_mode.is_some()
    {
        return Err(unsupported("a dialect-specific SELECT clause"));
    }
    match select.from.as_slice() {
        [] => Err(unsupported("SELECT without FROM data")),
        [from] if !from.joins.is_empty() => Err(unsupported("JOIN")),
        [from] => match &from.relation {
            ast::TableFactor::Table { .. } if from.to_string().eq_ignore_ascii_case("data") => {
                Ok(())
            }
            ast::TableFactor::Table { .. } => Err(unsupported(format_args!(
                "FROM {from} (the table is always called data, without alias or options)"
            ))),
            ast::TableFactor::Derived { .. } => Err(unsupported("a subquery in FROM")),
            _ => Err(unsupported(format_args!("FROM {from}"))),
        },
        _ => Err(unsupported("more than one table in FROM (a join)")),
    }
}

fn column_name(e: &SqlExpr) -> Option<String> {
    match e {
        SqlExpr::Identifier(ident) => Some(ident.value.clone()),
        SqlExpr::CompoundIdentifier(parts) => match parts.as_slice() {
            [table, column] if table.value.eq_ignore_ascii_case("data") => {
                Some(column.value.clone())
            }
            _ => None,
        },
        SqlExpr::Nested(inner) => column_name(inner),
        _ => None,
    }
}

fn output(item: &SelectItem, group_by: &[String]) -> Result<OutputColumn> {
    let (expr, alias) = match item {
        SelectItem::UnnamedExpr(e) => (e, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
        _ => return Err(unsupported(format_args!("SELECT {item}"))),
    };
    if let Some(col) = column_name(expr) {
        if !group_by.contains(&col) {
            return Err(QueryError::NotGrouped(col.to_string()).into());
        }
        return Ok(OutputColumn {
            name: alias.unwrap_or_else(|| col.clone()),
            output: Output::Group(col),
        });
    }
    let SqlExpr::Function(f) = expr else {
        return Err(unsupported(format_args!(
            "SELECT {expr} (select GROUP BY columns and aggregates of plain columns)"
        )));
    };
    let (aggregate, column) = aggregate(f)?;
    let canonical = match (aggregate, &column) {
        (_, None) => "count(*)".to_string(),
        (Aggregate::Count, Some(c)) => format!("count({c})"),
        (Aggregate::Sum, Some(c)) => format!("sum({c})"),
        (Aggregate::Avg, Some(c)) => format!("avg({c})"),
        (Aggregate::Variance, Some(c)) => format!("variance({c})"),
        (Aggregate::Stddev, Some(c)) => format!("stddev({c})"),
        (Aggregate::Percentile(0.5), Some(c)) => format!("median({c})"),
        (Aggregate::Percentile(p), Some(c)) => format!("percentile_cont({c}, {p})"),
    };
    Ok(OutputColumn {
        name: alias.unwrap_or(canonical),
        output: Output::Aggregate(aggregate, column),
    })
}

fn aggregate(f: &ast::Function) -> Result<(Aggregate, Option<String>)> {
    let name = f.name.to_string().to_ascii_uppercase();
    if f.over.is_some() {
        return Err(unsupported(format_args!(
            "{name}(...) OVER (window functions)"
        )));
    }
    if f.filter.is_some() || f.null_treatment.is_some() || f.uses_odbc_syntax {
        return Err(unsupported(format_args!(
            "{name}(...) FILTER / IGNORE NULLS"
        )));
    }
    if !matches!(f.parameters, FunctionArguments::None) {
        return Err(unsupported(format_args!("{f}")));
    }
    let args: Vec<&FunctionArgExpr> = match &f.args {
        FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() {
                return Err(unsupported(format_args!(
                    "{name}(DISTINCT ...) (a distinct count has no bounded sensitivity here)"
                )));
            }
            if !list.clauses.is_empty() {
                return Err(unsupported(format_args!("{f}")));
            }
            list.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(e) => Ok(e),
                    _ => Err(unsupported(format_args!("named arguments in {f}"))),
                })
                .collect::<Result<_>>()?
        }
        FunctionArguments::Subquery(_) => return Err(unsupported("a subquery")),
        FunctionArguments::None => Vec::new(),
    };
    let column_arg = |a: &FunctionArgExpr| match a {
        FunctionArgExpr::Expr(e) => column_name(e).ok_or_else(|| {
            unsupported(format_args!(
                "{name}({e}) (aggregates take a plain column; bound it with --bounds)"
            ))
        }),
        _ => Err(unsupported(format_args!("{name}({a})"))),
    };
    let within_group =
        match f.within_group.as_slice() {
            [] => None,
            [order] => Some(column_name(&order.expr).ok_or_else(|| {
                unsupported(format_args!("WITHIN GROUP (ORDER BY {})", order.expr))
            })?),
            _ => return Err(unsupported("WITHIN GROUP with more than one column")),
        };
    if within_group.is_some() && name != "PERCENTILE_CONT" {
        return Err(unsupported(format_args!("{name}(...) WITHIN GROUP")));
    }
    let one = |kind| match args.as_slice() {
        [a] => Ok((kind, Some(column_arg(a)?))),
        _ => Err(unsupported(format_args!(
            "{name} with {} arguments",
            args.len()
        ))),
    };
    match name.as_str() {
        "COUNT" => match args.as_slice() {
            [FunctionArgExpr::Wildcard] => Ok((Aggregate::Count, None)),
            _ => one(Aggregate::Count),
        },
        "SUM" => one(Aggregate::Sum),
        "AVG" | "MEAN" => one(Aggregate::Avg),
        "VARIANCE" | "VAR_POP" => one(Aggregate::Variance),
        "STDDEV" | "STDDEV_POP" => one(Aggregate::Stddev),
        "MEDIAN" => one(Aggregate::Percentile(0.5)),
        "PERCENTILE_CONT" => {
            let (column, p) = match (args.as_slice(), within_group) {
                ([p], Some(column)) => (column, p),
                ([c, p], None) => (column_arg(c)?, p),
                _ => {
                    return Err(unsupported(format_args!(
                        "{f} (write PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY col))"
                    )));
                }
            };
            let p = match p {
                FunctionArgExpr::Expr(e) => match literal(e) {
                    Some(Literal::Number(p)) if (0.0..=1.0).contains(&p) => p,
                    _ => {
                        return Err(QueryError::Percentile(e.to_string()).into());
                    }
                },
                _ => return Err(unsupported(format_args!("{f}"))),
            };
            Ok((Aggregate::Percentile(p), Some(column)))
        }
        _ => Err(unsupported(format_args!("the function {name}"))),
    }
}

fn literal(e: &SqlExpr) -> Option<Literal> {
    match e {
        SqlExpr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok().map(Literal::Number),
            Value::SingleQuotedString(s) => Some(Literal::Text(s.clone())),
            Value::Boolean(b) => Some(Literal::Bool(*b)),
            _ => None,
        },
        SqlExpr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match literal(expr)? {
            Literal::Number(n) => Some(Literal::Number(-n)),
            _ => None,
        },
        SqlExpr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => match literal(expr)? {
            n @ Literal::Number(_) => Some(n),
            _ => None,
        },
        SqlExpr::Nested(inner) => literal(inner),
        _ => None,
    }
}

fn operand(e: &SqlExpr) -> Result<Operand> {
    if let Some(c) = column_name(e) {
        return Ok(Operand::Column(c));
    }
    if let Some(l) = literal(e) {
        return Ok(Operand::Literal(l));
    }
    if matches!(e, SqlExpr::Subquery(_) | SqlExpr::Exists { .. }) {
        return Err(unsupported("a subquery"));
    }
    if matches!(e, SqlExpr::Value(v) if matches!(v.value, Value::Null)) {
        return Err(QueryError::NullComparison.into());
    }
    Err(unsupported(format_args!(
        "the expression {e} in WHERE (compare columns with literals)"
    )))
}

fn filter(e: &SqlExpr) -> Result<Filter> {
    Ok(match e {
        SqlExpr::Nested(inner) => filter(inner)?,
        SqlExpr::BinaryOp { left, op, right } => {
            let cmp = match op {
                BinaryOperator::And => {
                    return Ok(Filter::And(
                        Box::new(filter(left)?),
                        Box::new(filter(right)?),
                    ));
                }
                BinaryOperator::Or => {
                    return Ok(Filter::Or(
                        Box::new(filter(left)?),
                        Box::new(filter(right)?),
                    ));
                }
                BinaryOperator::Eq => CmpOp::Eq,
                BinaryOperator::NotEq => CmpOp::Ne,
                BinaryOperator::Lt => CmpOp::Lt,
                BinaryOperator::LtEq => CmpOp::Le,
                BinaryOperator::Gt => CmpOp::Gt,
                BinaryOperator::GtEq => CmpOp::Ge,
                other => return Err(unsupported(format_args!("the operator {other} in WHERE"))),
            };
            Filter::Compare(operand(left)?, cmp, operand(right)?)
        }
        SqlExpr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Filter::Not(Box::new(filter(expr)?)),
        SqlExpr::InList {
            expr,
            list,
            negated,
        } => Filter::In(
            operand(expr)?,
            list.iter()
                .map(|l| literal(l).ok_or_else(|| unsupported(format_args!("{l} in an IN list"))))
                .collect::<Result<_>>()?,
            *negated,
        ),
        SqlExpr::Between {
            expr,
            negated,
            low,
            high,
        } => Filter::Between(operand(expr)?, operand(low)?, operand(high)?, *negated),
        SqlExpr::IsNull(inner) => Filter::IsNull(operand(inner)?, false),
        SqlExpr::IsNotNull(inner) => Filter::IsNull(operand(inner)?, true),
        SqlExpr::InSubquery { .. } | SqlExpr::Exists { .. } | SqlExpr::Subquery(_) => {
            return Err(unsupported("a subquery"));
        }
        other => {
            return Err(unsupported(format_args!("the condition {other} in WHERE")));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(sql: &str) -> String {
        parse(sql).unwrap_err().to_string()
    }

    #[test]
    fn accepts_the_issue_example() {
        let s =
            parse("SELECT sex, COUNT(*), AVG(age) FROM data WHERE age > 18 GROUP BY sex").unwrap();
        assert_eq!(s.group_by, vec!["sex"]);
        let names: Vec<_> = s.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["sex", "count(*)", "avg(age)"]);
        assert_eq!(
            s.outputs[2].output,
            Output::Aggregate(Aggregate::Avg, Some("age".into()))
        );
        assert_eq!(
            s.filter,
            Some(Filter::Compare(
                Operand::Column("age".into()),
                CmpOp::Gt,
                Operand::Literal(Literal::Number(18.0))
            ))
        );
    }

    #[test]
    fn percentiles_in_both_spellings_and_aliases() {
        let s = parse(
            "SELECT PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY age) AS p90, \
             percentile_cont(age, 0.1), MEDIAN(data.age) m FROM data",
        )
        .unwrap();
        let outs: Vec<_> = s
            .outputs
            .iter()
            .map(|o| (o.name.as_str(), &o.output))
            .collect();
        assert_eq!(
            outs,
            [
                (
                    "p90",
                    &Output::Aggregate(Aggregate::Percentile(0.9), Some("age".into()))
                ),
                (
                    "percentile_cont(age, 0.1)",
                    &Output::Aggregate(Aggregate::Percentile(0.1), Some("age".into()))
                ),
                (
                    "m",
                    &Output::Aggregate(Aggregate::Percentile(0.5), Some("age".into()))
                ),
            ]
        );
    }

    #[test]
    fn filters_with_three_valued_pieces() {
        let s = parse(
            "SELECT COUNT(*) FROM data WHERE NOT (sex IN ('F', 'X') OR age BETWEEN -1 AND 10) \
             AND income IS NOT NULL",
        )
        .unwrap();
        let Some(Filter::And(left, right)) = s.filter else {
            panic!("{:?}", s.filter)
        };
        assert!(matches!(*left, Filter::Not(_)));
        assert_eq!(
            *right,
            Filter::IsNull(Operand::Column("income".into()), true)
        );
    }

    #[test]
    fn rejects_what_it_cannot_bound_and_says_what_is_supported() {
        for (sql, what) in [
            (
                "SELECT COUNT(*) FROM data JOIN other ON data.id = other.id",
                "JOIN",
            ),
            ("SELECT COUNT(*) FROM data, other", "join"),
            ("SELECT COUNT(*) FROM (SELECT * FROM data) t", "subquery"),
            (
                "SELECT COUNT(*) FROM data WHERE age IN (SELECT age FROM data)",
                "subquery",
            ),
            ("SELECT AVG(age) OVER () FROM data", "window"),
            ("SELECT COUNT(DISTINCT id) FROM data", "DISTINCT"),
            ("SELECT SUM(age * 2) FROM data", "plain column"),
            ("SELECT age FROM data", "not in GROUP BY"),
            ("SELECT * FROM data", "SELECT *"),
            ("SELECT COUNT(*) FROM patients", "always called data"),
            ("SELECT COUNT(*) FROM data LIMIT 3", "LIMIT"),
            (
                "SELECT COUNT(*) FROM data UNION SELECT COUNT(*) FROM data",
                "UNION",
            ),
            ("SELECT MAX(age) FROM data", "MAX"),
            (
                "SELECT sex, COUNT(*) FROM data GROUP BY sex HAVING COUNT(*) > 5",
                "HAVING",
            ),
            ("DELETE FROM data", "other than SELECT"),
            ("SELECT COUNT(*) FROM data WHERE age = NULL", "IS NULL"),
            ("SELECT COUNT(*) FROM data WHERE age + 1 > 3", "age + 1"),
            (
                "SELECT PERCENTILE_CONT(1.5) WITHIN GROUP (ORDER BY age) FROM data",
                "between 0",
            ),
            ("SELECT COUNT(*), COUNT(*) FROM data", "alias"),
            ("SELEC COUNT(*) FROM data", "does not parse"),
        ] {
            let e = err(sql);
            assert!(e.contains(what), "{sql}: {e}");
        }
        assert!(err("SELECT COUNT(*) FROM data JOIN b ON true").contains("supported: SELECT"));
    }
}
