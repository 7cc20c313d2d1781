//! Checks of stored Burn records before Burn loads them.
//!
//! Burn's loaders trust their records: `Module::try_load_record` panics when a recorded
//! tensor's dtype does not fit the kind of its parameter (an integer tensor for a float
//! weight), and `ModuleOptimizer::load_record` panics on a state tensor that names no
//! parameter or has a rank above 8. A checkpoint is a file a user did not necessarily make,
//! so [`Checkpoint`](crate::Checkpoint) runs these checks first and reports a typed error.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Bool, Bytes, DType, Int, Tensor};

/// The highest tensor rank whose optimiser state Burn can restore (its rank dispatch covers
/// ranks 0 to 8).
pub const MAX_OPTIMIZER_STATE_RANK: usize = 8;

/// The kind of a module parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParamKind {
    Float,
    Int,
    Bool,
}

impl ParamKind {
    /// Whether a recorded tensor of `dtype` can be loaded into a parameter of this kind.
    fn accepts(self, dtype: DType) -> bool {
        match self {
            Self::Float => dtype.is_float(),
            Self::Int => dtype.is_int() || dtype.is_uint(),
            Self::Bool => dtype.is_bool(),
        }
    }
}

/// Collects the dotted path and kind of every parameter of a module, as Burn's record
/// names them.
#[derive(Default)]
struct ParamKinds {
    path: Vec<String>,
    kinds: HashMap<String, ParamKind>,
}

impl ParamKinds {
    fn insert(&mut self, kind: ParamKind) {
        self.kinds.insert(self.path.join("."), kind);
    }
}

impl ModuleVisitor for ParamKinds {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<D>>) {
        self.insert(ParamKind::Float);
    }

    fn visit_int<const D: usize>(&mut self, _param: &Param<Tensor<D, Int>>) {
        self.insert(ParamKind::Int);
    }

    fn visit_bool<const D: usize>(&mut self, _param: &Param<Tensor<D, Bool>>) {
        self.insert(ParamKind::Bool);
    }
}

/// Checks that every tensor of the module record `bytes` that matches a parameter of
/// `module` has a dtype of that parameter's kind; returns the reason otherwise. Tensors
/// matching no parameter are left to Burn, which reports them.
pub(crate) fn check_module_record<M: Module>(module: &M, bytes: Bytes) -> Result<(), String> {
    let mut params = ParamKinds::default();
    module.visit(&mut params);
    let reader = burn_pack::Reader::from_bytes(bytes).map_err(unreadable)?;
    for tensor in reader.into_tensors().map_err(unreadable)? {
        let (path, dtype, ..) = tensor.into_parts().map_err(unreadable)?;
        if let Some(&kind) = params.kinds.get(&path)
            && !kind.accepts(dtype)
        {
            return Err(format!("`{path}` is stored as {dtype:?}, its parameter is {kind:?}"));
        }
    }
    Ok(())
}

/// Checks that every state tensor of the optimiser record `bytes` names its parameter, and
/// that the state rank of every parameter (its stored `{id}.__rank` scalar, else the rank of
/// its first tensor, as Burn resolves it) is at most [`MAX_OPTIMIZER_STATE_RANK`] and is the
/// rank of each state tensor named `{id}.…`; returns the reason otherwise.
pub(crate) fn check_optimizer_record(bytes: Bytes) -> Result<(), String> {
    let reader = burn_pack::Reader::from_bytes(bytes).map_err(unreadable)?;
    let mut ranks: HashMap<u64, usize> = HashMap::new();
    for (key, value) in reader.scalars() {
        if let Some(id) = key.strip_suffix(".__rank").and_then(|id| id.parse::<u64>().ok())
            && let Ok(rank) = usize::try_from(*value)
        {
            ranks.insert(id, rank);
        }
    }
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(unreadable)? {
        let (name, _, shape, param_id, _) = tensor.into_parts().map_err(unreadable)?;
        let Some(param_id) = param_id else {
            return Err(format!("state tensor `{name}` names no parameter"));
        };
        ranks.entry(param_id).or_insert(shape.num_dims());
        tensors.push((name, shape.num_dims()));
    }
    if let Some((id, rank)) = ranks.iter().find(|&(_, &rank)| rank > MAX_OPTIMIZER_STATE_RANK) {
        return Err(format!(
            "the state of parameter {id} has rank {rank}, above {MAX_OPTIMIZER_STATE_RANK}"
        ));
    }
    for (name, rank) in tensors {
        let id = name.split('.').next().and_then(|id| id.parse::<u64>().ok());
        if let Some(expected) = id.and_then(|id| ranks.get(&id))
            && *expected != rank
        {
            return Err(format!(
                "state tensor `{name}` has rank {rank}, its parameter's state rank {expected}"
            ));
        }
    }
    Ok(())
}

fn unreadable(err: burn_pack::Error) -> String {
    format!("unreadable record: {err}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, Shape};

    fn linear() -> Linear {
        LinearConfig::new(2, 3).init(&Device::flex())
    }

    /// A burnpack tensor `name` of `dtype` and `shape` (zeros).
    fn tensor(
        name: &str,
        dtype: DType,
        shape: &[usize],
        param_id: Option<u64>,
    ) -> burn_pack::Tensor {
        let len = shape.iter().product::<usize>() * dtype.size();
        burn_pack::Tensor::new(
            name.to_string(),
            dtype,
            Shape::from(shape.to_vec()),
            param_id,
            Bytes::from_bytes_vec(vec![0; len]),
        )
    }

    /// A burnpack record of one tensor (see [`tensor`]).
    fn record(name: &str, dtype: DType, shape: &[usize], param_id: Option<u64>) -> Bytes {
        burn_pack::Writer::new(vec![tensor(name, dtype, shape, param_id)]).into_bytes().unwrap()
    }

    #[test]
    fn module_records_must_fit_their_parameters_kinds() {
        let own = linear().into_record().into_bytes().unwrap();
        check_module_record(&linear(), own).unwrap();
        check_module_record(&linear(), record("weight", DType::F64, &[2, 3], Some(1))).unwrap();
        let err = check_module_record(&linear(), record("weight", DType::I32, &[2, 3], Some(1)))
            .unwrap_err();
        assert!(err.contains("`weight` is stored as I32"), "{err}");
        // A tensor that matches no parameter is Burn's to report.
        check_module_record(&linear(), record("other", DType::I32, &[1], Some(1))).unwrap();
    }

    #[test]
    fn optimizer_records_need_parameter_ids_and_supported_ranks() {
        check_optimizer_record(record("1.moment_1", DType::F32, &[2, 3], Some(1))).unwrap();
        let err = check_optimizer_record(record("1.moment_1", DType::F32, &[2], None)).unwrap_err();
        assert!(err.contains("names no parameter"), "{err}");
        let err =
            check_optimizer_record(record("1.moment_1", DType::F32, &[1; 9], Some(1))).unwrap_err();
        assert!(err.contains("rank 9"), "{err}");
        let moments = vec![
            tensor("1.moment_1", DType::F32, &[2, 3], Some(1)),
            tensor("1.moment_2", DType::F32, &[3], Some(1)),
        ];
        let moments = burn_pack::Writer::new(moments).into_bytes().unwrap();
        let err = check_optimizer_record(moments).unwrap_err();
        assert!(err.contains("`1.moment_2` has rank 1, its parameter's state rank 2"), "{err}");
    }
}
