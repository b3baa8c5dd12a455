// ControllerRef, as kube-controller-manager's controllers read it: an object belongs to the
// one owner whose ownerReference says `controller: true`, matched by uid. A name is not
// enough (a run deleted and created again has the same name and a new uid), and a label
// naming a run is a selector, never proof of ownership: anyone who may create Jobs in a
// namespace can set it. The operator acts only on Jobs its TrainingRun controls by this
// rule, and on the pods those Jobs control; early-stop stops only a fold Job so controlled.
// Pure.

/** The part of an object this module reads. */
export interface OwnedLike {
  readonly metadata?:
    | {
        readonly ownerReferences?:
          | ReadonlyArray<{
              readonly apiVersion?: string;
              readonly kind?: string;
              readonly name?: string;
              readonly uid?: string;
              readonly controller?: boolean;
            }>
          | undefined;
      }
    | undefined;
}

export interface ControllerRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

/** The owner that controls `obj` (its ownerReference with controller: true), if any. */
export function controllerRefOf(obj: OwnedLike): ControllerRef | undefined {
  const ref = obj.metadata?.ownerReferences?.find((r) => r.controller === true);
  return ref?.uid
    ? { apiVersion: ref.apiVersion ?? "", kind: ref.kind ?? "", name: ref.name ?? "", uid: ref.uid }
    : undefined;
}

/** Whether the owner with `uid` controls `obj`; never for an owner without a uid. */
export function isControlledBy(obj: OwnedLike, uid: string | undefined): boolean {
  return uid !== undefined && uid !== "" && controllerRefOf(obj)?.uid === uid;
}
